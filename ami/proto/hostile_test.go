package proto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// readAllMessages decodes a whole stream, collecting frame errors instead of stopping.
func readAllMessages(r io.Reader, lim Limits) (msgs []*Message, frameErrs []error, err error) {
	rd := NewReader(r, lim)
	for {
		m, err := rd.ReadMessage()
		var fe *FrameError
		switch {
		case err == nil:
			msgs = append(msgs, m)
		case errors.As(err, &fe):
			frameErrs = append(frameErrs, err)
		case errors.Is(err, io.EOF):
			return msgs, frameErrs, nil
		default:
			return msgs, frameErrs, err
		}
	}
}

func TestLineEndings(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"crlf", "Event: A\r\nX: 1\r\n\r\nEvent: B\r\n\r\n"},
		{"bare_lf", "Event: A\nX: 1\n\nEvent: B\n\n"},
		{"crlf_then_lf_end", "Event: A\r\nX: 1\r\n\nEvent: B\r\n\n"},
		{"blank_lines_between", "\r\n\r\nEvent: A\r\nX: 1\r\n\r\n\r\n\nEvent: B\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, fe, err := readAllMessages(strings.NewReader(tc.in), Limits{})
			if err != nil || len(fe) != 0 {
				t.Fatalf("err %v, frame errors %v", err, fe)
			}
			if len(msgs) != 2 || msgs[0].Name() != "A" || msgs[0].Get("X") != "1" || msgs[1].Name() != "B" {
				t.Fatalf("got %v", msgs)
			}
		})
	}
}

func TestValueSpacing(t *testing.T) {
	msgs, _, err := readAllMessages(strings.NewReader("Response: Success\r\nOutput:   indented  \r\nEmpty: \r\nBare:\r\nColon: a: b\r\n\r\n"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	for k, want := range map[string]string{"Output": "  indented  ", "Empty": "", "Bare": "", "Colon": "a: b"} {
		if got := m.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestHostileInput(t *testing.T) {
	small := Limits{MaxLineBytes: 100, MaxFields: 10, MaxMessageBytes: 400}
	good := "Event: Good\r\nN: 1\r\n\r\n"
	tests := []struct {
		name    string
		in      string
		wantErr error // reason of the single frame error
	}{
		{"garbage_line", "this is not a header\r\nmore junk\r\n\r\n" + good, ErrMalformedLine},
		{"binary_garbage", "\x00\x01\x02\xff\xfe\r\n\r\n" + good, ErrMalformedLine},
		{"empty_key", ": value\r\n\r\n" + good, ErrMalformedLine},
		{"space_in_key", "Bad Key: value\r\n\r\n" + good, ErrMalformedLine},
		{"oversized_line", "Event: X\r\nBig: " + strings.Repeat("A", 5000) + "\r\nY: 2\r\n\r\n" + good, ErrLineTooLong},
		{"oversized_line_no_lf_for_long", "Event: X\r\nBig: " + strings.Repeat("B", 100000) + "\r\n\r\n" + good, ErrLineTooLong},
		{"too_many_headers", "Event: X\r\n" + strings.Repeat("H: v\r\n", 50) + "\r\n" + good, ErrTooManyFields},
		{"message_too_large", "Event: X\r\n" + strings.Repeat("H: "+strings.Repeat("v", 90)+"\r\n", 8) + "\r\n" + good, ErrMessageTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, fe, err := readAllMessages(strings.NewReader(tc.in), small)
			if err != nil {
				t.Fatalf("stream error %v", err)
			}
			if len(fe) != 1 || !errors.Is(fe[0], tc.wantErr) {
				t.Fatalf("frame errors %v, want one %v", fe, tc.wantErr)
			}
			if !strings.Contains(fe[0].Error(), "ami frame") {
				t.Errorf("error does not say what it is: %v", fe[0])
			}
			if len(msgs) != 1 || msgs[0].Name() != "Good" || msgs[0].Get("N") != "1" {
				t.Fatalf("did not resynchronise on the next message: %v", msgs)
			}
		})
	}
}

// A server that never finishes a message must not make the reader grow without
// bound: past the limits it drops what it holds.
func TestEndlessHeaders(t *testing.T) {
	lim := Limits{MaxLineBytes: 64, MaxFields: 8, MaxMessageBytes: 256}
	const n = 20000
	src := io.MultiReader(strings.NewReader("Event: Endless\r\n"+strings.Repeat("K: v\r\n", n)), strings.NewReader(strings.Repeat("x", 1<<20)))
	rd := NewReader(src, lim)
	_, err := rd.ReadMessage()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if cap(rd.keys) > 2*lim.MaxFields || cap(rd.vals) > 2*lim.MaxMessageBytes || cap(rd.line) > 4*lim.MaxLineBytes {
		t.Fatalf("reader holds %d headers, %d value bytes, %d line bytes", cap(rd.keys), cap(rd.vals), cap(rd.line))
	}
}

func TestTruncatedStream(t *testing.T) {
	rd := NewReader(strings.NewReader("Event: Half\r\nChannel: PJSIP/1"), Limits{})
	if _, err := rd.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want unexpected EOF", err)
	}
	rd = NewReader(strings.NewReader("Event: Whole\r\n\r\n\r\n"), Limits{})
	if _, err := rd.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.ReadMessage(); err != io.EOF {
		t.Fatalf("err = %v, want EOF", err)
	}
}

func TestWriterRejectsInjection(t *testing.T) {
	tests := []struct {
		name string
		f    Field
		want error
	}{
		{"lf_in_value", Field{"CallerID", "\"x\" <1>\nAction: Hangup"}, ErrUnsafeValue},
		{"cr_in_value", Field{"Value", "a\rb"}, ErrUnsafeValue},
		{"crlf_in_value", Field{"Value", "a\r\n\r\nAction: Originate"}, ErrUnsafeValue},
		{"nul_in_value", Field{"Value", "a\x00b"}, ErrUnsafeValue},
		{"colon_in_key", Field{"A:B", "v"}, ErrBadKey},
		{"space_in_key", Field{"A B", "v"}, ErrBadKey},
		{"lf_in_key", Field{"A\nB", "v"}, ErrBadKey},
		{"empty_key", Field{"", "v"}, ErrBadKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			err := w.WriteMessage(&Message{Fields: []Field{{"Action", "Setvar"}, tc.f}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Key != tc.f.Key {
				t.Fatalf("error does not name the header: %v", err)
			}
			if buf.Len() != 0 {
				t.Fatalf("wrote %q despite the error", buf.String())
			}
		})
	}
	if got := Clean("a\r\nb\x00c"); got != "a  b c" {
		t.Errorf("Clean = %q", got)
	}
}

func TestWriterKeepsPercent(t *testing.T) {
	m := NewMessage("Action", "Setvar", "ActionID", "x", "Variable", "LIC_GLOBAL", "Value", "50% used: a=b; c %s %d %!")
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := "Action: Setvar\r\nActionID: x\r\nVariable: LIC_GLOBAL\r\nValue: 50% used: a=b; c %s %d %!\r\n\r\n"
	if string(b) != want {
		t.Fatalf("got %q", b)
	}
	back, _, _ := readAllMessages(bytes.NewReader(b), Limits{})
	if back[0].Get("Value") != "50% used: a=b; c %s %d %!" {
		t.Fatalf("round trip %q", back[0].Get("Value"))
	}
}

// The writer produces exactly the bytes the recording client sent.
func TestWriterMatchesRecordedActions(t *testing.T) {
	raw := fixtures.Read(t, "asterisk", "ami_actions_basic.tx.raw")
	msgs, fe, err := readAllMessages(bytes.NewReader(raw), Limits{})
	if err != nil || len(fe) > 0 {
		t.Fatal(err, fe)
	}
	var out []byte
	for _, m := range msgs {
		if m.Kind() != KindAction {
			t.Fatalf("kind %v", m.Kind())
		}
		if out, err = AppendMessage(out, m); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out, raw) {
		t.Fatalf("re-encoded actions differ")
	}
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"ami_actions_basic", "ami_login_failed", "ami_asterisk_shutdown", "ami_call_local_dial_actions"} {
		f.Add(fixtures.Read(f, "asterisk", name+".rx.raw"))
	}
	f.Add([]byte("Event: A\r\nX: 1\r\n\nEvent: B\n\n"))
	f.Add([]byte("garbage\r\n\r\nResponse: Success\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxLineBytes: 256, MaxFields: 32, MaxMessageBytes: 2048}
		msgs, _, err := readAllMessages(bytes.NewReader(data), lim)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unexpected stream error %v", err)
		}
		for _, m := range msgs {
			if len(m.Fields) == 0 || len(m.Fields) > lim.MaxFields {
				t.Fatalf("message with %d fields", len(m.Fields))
			}
			for _, fl := range m.Fields {
				if len(fl.Key)+len(fl.Value) > lim.MaxLineBytes {
					t.Fatalf("line over the limit got through")
				}
			}
			// Whatever was decoded re-encodes (if writable) and decodes the same.
			b, err := Marshal(m)
			if err != nil {
				continue
			}
			back, fe, err := readAllMessages(bytes.NewReader(b), Limits{})
			if err != nil || len(fe) != 0 || len(back) != 1 {
				t.Fatalf("re-decode of %q: %v %v %d", b, err, fe, len(back))
			}
			if back[0].String() != m.String() {
				t.Fatalf("round trip changed %q into %q", m.String(), back[0].String())
			}
		}
	})
}
