package sipmon

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// JSONStream writes a Report as JSON while the capture is still being read:
// Leg writes each counted leg as it comes (give it as Config.LegSink), Finish
// the totals after them, so the report is never built whole. The output is
// one JSON object with the fields of json.Marshal(Report), "legs" first.
type JSONStream struct {
	w   *bufio.Writer
	n   int
	err error
	buf []byte
}

// NewJSONStream starts a report on w.
func NewJSONStream(w io.Writer) *JSONStream {
	return &JSONStream{w: bufio.NewWriterSize(w, 64<<10)}
}

// WriteJSON writes a whole Report as a JSONStream does.
func WriteJSON(w io.Writer, r *Report) error { return NewJSONStream(w).Finish(r) }

// Leg writes one counted leg. A write error is kept for Finish.
func (s *JSONStream) Leg(lr LegRecord) {
	if s.err != nil {
		return
	}
	b := s.buf[:0]
	if s.n == 0 {
		b = append(b, "{\n  \"legs\": [\n"...)
	} else {
		b = append(b, ",\n"...)
	}
	s.n++
	b = appendLeg(b, &lr)
	s.buf = b
	_, s.err = s.w.Write(b)
}

// Finish writes r's own legs (a report that kept them), then its totals, and
// flushes. It returns the first write error.
func (s *JSONStream) Finish(r *Report) error {
	for _, lr := range r.Legs {
		s.Leg(lr)
	}
	if s.err != nil {
		return fmt.Errorf("writing the JSON report: %w", s.err)
	}
	// The totals, without the legs: a field at the top shadows the embedded
	// one, and is left out when nil.
	head, err := json.MarshalIndent(struct {
		*Report
		Legs []LegRecord `json:"legs,omitempty"`
	}{Report: r}, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	if len(head) < 2 || head[0] != '{' {
		return errors.New("writing the JSON report: unexpected encoding of the totals")
	}
	if s.n == 0 {
		s.w.WriteString("{\n  \"legs\": [],")
	} else {
		s.w.WriteString("\n  ],")
	}
	s.w.Write(head[1:])
	s.w.WriteByte('\n')
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	return nil
}

// appendLeg encodes a leg as json.MarshalIndent does at the legs' depth,
// without reflection: a report can hold millions.
func appendLeg(b []byte, l *LegRecord) []byte {
	const in = "      "
	b = append(b, "    {\n"...)
	b = appendStrings(b, in, "call_ids", l.CallIDs)
	b = appendStrings(b, in, "sensors", l.Sensors)
	b = appendField(b, in, "caller", func(b []byte) []byte { return appendString(b, l.Caller) })
	b = appendField(b, in, "called", func(b []byte) []byte { return appendString(b, l.Called) })
	b = appendTimeField(b, in, "invite", l.Invite)
	if l.Answer != nil {
		b = appendTimeField(b, in, "answer", *l.Answer)
	}
	b = appendTimeField(b, in, "end", l.End)
	b = appendField(b, in, "answered", func(b []byte) []byte { return strconv.AppendBool(b, l.Answered) })
	if l.Codec != "" {
		b = appendField(b, in, "codec", func(b []byte) []byte { return appendString(b, l.Codec) })
	}
	b = appendField(b, in, "g729", func(b []byte) []byte { return strconv.AppendBool(b, l.G729) })
	b = appendField(b, in, "fax", func(b []byte) []byte { return strconv.AppendBool(b, l.Fax) })
	b = append(b, in+`"ended_by": `...)
	b = appendString(b, l.EndedBy)
	return append(b, "\n    }"...)
}

func appendField(b []byte, indent, name string, value func([]byte) []byte) []byte {
	b = append(b, indent...)
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `": `...)
	b = value(b)
	return append(b, ",\n"...)
}

func appendTimeField(b []byte, indent, name string, t time.Time) []byte {
	return appendField(b, indent, name, func(b []byte) []byte {
		b = append(b, '"')
		b = appendTime(b, t)
		return append(b, '"')
	})
}

// appendTime is t.AppendFormat(b, time.RFC3339Nano), done by hand for the
// times a report holds (UTC, four-digit years): three per leg, and the
// layout interpreter was a measurable part of writing the legs.
func appendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if t.Location() != time.UTC || year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	if ns := t.Nanosecond(); ns != 0 {
		// The fraction without trailing zeros, as ".999999999" prints it.
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = append(b, '.')
		b = appendDigits(b, ns, digits)
	}
	return append(b, 'Z')
}

// appendDigits appends v in exactly width decimal digits (v fits).
func appendDigits(b []byte, v, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:width]...)
}

func appendStrings(b []byte, indent, name string, ss []string) []byte {
	return appendField(b, indent, name, func(b []byte) []byte {
		if ss == nil {
			return append(b, "null"...)
		}
		if len(ss) == 0 {
			return append(b, "[]"...)
		}
		b = append(b, "[\n"...)
		for i, s := range ss {
			b = append(b, indent+"  "...)
			b = appendString(b, s)
			if i < len(ss)-1 {
				b = append(b, ',')
			}
			b = append(b, '\n')
		}
		b = append(b, indent...)
		return append(b, ']')
	})
}

// appendString quotes s as encoding/json does: plain printable ASCII is
// copied, anything else goes through the encoder.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
