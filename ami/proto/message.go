package proto

import (
	"strings"
)

// Field is one "Key: Value" header line. Value keeps its trailing spaces (Asterisk
// pads CLI output with them); the single space after the colon is not part of it.
type Field struct {
	Key   string
	Value string
}

// Kind says what a message is, decided by its first header only.
type Kind int

// Message kinds. An OriginateResponse is KindEvent even though it carries a
// "Response:" header, because its first line is "Event: OriginateResponse".
const (
	KindUnknown Kind = iota
	KindResponse
	KindEvent
	KindAction
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindResponse:
		return "response"
	case KindEvent:
		return "event"
	case KindAction:
		return "action"
	}
	return "unknown"
}

// Message is one AMI message: its headers in wire order. The zero value is an
// empty message. A Message is not safe for concurrent mutation.
type Message struct {
	Fields []Field
}

// NewMessage builds a message from alternating keys and values; a missing last
// value is taken as empty.
func NewMessage(kv ...string) *Message {
	m := &Message{Fields: make([]Field, 0, (len(kv)+1)/2)}
	for i := 0; i < len(kv); i += 2 {
		v := ""
		if i+1 < len(kv) {
			v = kv[i+1]
		}
		m.Fields = append(m.Fields, Field{Key: kv[i], Value: v})
	}
	return m
}

// Kind classifies the message by its first header (Response, Event or Action,
// compared case-insensitively as Asterisk does).
func (m *Message) Kind() Kind {
	if m == nil || len(m.Fields) == 0 {
		return KindUnknown
	}
	switch k := m.Fields[0].Key; {
	case strings.EqualFold(k, "Response"):
		return KindResponse
	case strings.EqualFold(k, "Event"):
		return KindEvent
	case strings.EqualFold(k, "Action"):
		return KindAction
	}
	return KindUnknown
}

// Name is the value of the first header: the event name, the response status
// (Success, Error, Goodbye) or the action name.
func (m *Message) Name() string {
	if m == nil || len(m.Fields) == 0 {
		return ""
	}
	return m.Fields[0].Value
}

// Get returns the first value of key (case-insensitive) or "".
func (m *Message) Get(key string) string {
	v, _ := m.Lookup(key)
	return v
}

// Lookup returns the first value of key (case-insensitive) and whether it exists.
func (m *Message) Lookup(key string) (string, bool) {
	if m == nil {
		return "", false
	}
	for _, f := range m.Fields {
		if strings.EqualFold(f.Key, key) {
			return f.Value, true
		}
	}
	return "", false
}

// Values returns every value of a repeated key (Output, Variable), in order.
func (m *Message) Values(key string) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, f := range m.Fields {
		if strings.EqualFold(f.Key, key) {
			out = append(out, f.Value)
		}
	}
	return out
}

// Add appends a header.
func (m *Message) Add(key, value string) *Message {
	m.Fields = append(m.Fields, Field{Key: key, Value: value})
	return m
}

// Set replaces the first value of key, or appends it if absent.
func (m *Message) Set(key, value string) *Message {
	for i, f := range m.Fields {
		if strings.EqualFold(f.Key, key) {
			m.Fields[i].Value = value
			return m
		}
	}
	return m.Add(key, value)
}

// Clone returns a deep copy.
func (m *Message) Clone() *Message {
	if m == nil {
		return nil
	}
	return &Message{Fields: append([]Field(nil), m.Fields...)}
}

// String renders the message in wire form (CRLF lines, empty line at the end),
// without validation; use Marshal or a Writer to send one.
func (m *Message) String() string {
	var b strings.Builder
	for _, f := range m.Fields {
		b.WriteString(f.Key)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}
