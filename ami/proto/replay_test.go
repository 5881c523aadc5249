package proto

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// amiCaptures lists every recorded AMI session (ami_* and the ARI scenarios'
// AMI sides) by base name.
func amiCaptures(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join(fixtures.Dir(t), "asterisk")
	var names []string
	for _, pat := range []string{"ami_*.rx.raw", "ari_*_ami*.rx.raw"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			names = append(names, strings.TrimSuffix(filepath.Base(p), ".rx.raw"))
		}
	}
	if len(names) < 19 {
		t.Fatalf("found only %d AMI captures in %s", len(names), dir)
	}
	return names
}

// decodeAll reads the banner and every message until the stream ends.
func decodeAll(t testing.TB, r io.Reader) (string, []*Message, error) {
	t.Helper()
	rd := NewReader(r, Limits{})
	banner, err := rd.ReadBanner()
	if err != nil {
		return "", nil, err
	}
	var msgs []*Message
	for {
		m, err := rd.ReadMessage()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return banner, msgs, nil
			}
			return banner, msgs, err
		}
		msgs = append(msgs, m)
	}
}

// rxChunks returns the recorded recv() boundaries of a capture's .jsonl.
func rxChunks(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(fixtures.Path(t, "asterisk", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var chunks [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var e struct {
			Dir  string `json:"dir"`
			Data string `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s.jsonl: %v", name, err)
		}
		if e.Dir != "rx" {
			continue
		}
		// The log stores bytes as latin-1 code points.
		b := make([]byte, 0, len(e.Data))
		for _, r := range e.Data {
			b = append(b, byte(r))
		}
		chunks = append(chunks, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return chunks
}

// chunkReader hands out one chunk per Read, like recv() did.
type chunkReader struct{ chunks [][]byte }

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func randomChunks(b []byte, rng *rand.Rand) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 1 + rng.IntN(min(len(b), 97))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// errTimeout stands in for a net.Error deadline.
var errTimeout = errors.New("i/o timeout")

// stallingReader returns a timeout before every chunk: the Reader must resume.
type stallingReader struct {
	chunks [][]byte
	stall  bool
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	if s.stall = !s.stall; s.stall {
		return 0, errTimeout
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

func TestReplayEveryCapture(t *testing.T) {
	for _, name := range amiCaptures(t) {
		t.Run(name, func(t *testing.T) {
			raw := fixtures.Read(t, "asterisk", name+".rx.raw")
			banner, msgs, err := decodeAll(t, bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if banner != "Asterisk Call Manager/11.0.0" {
				t.Errorf("banner %q", banner)
			}
			// Independent count: every message of these captures ends in an empty CRLF line.
			if want := bytes.Count(raw, []byte("\r\n\r\n")); len(msgs) != want {
				t.Errorf("decoded %d messages, the bytes hold %d", len(msgs), want)
			}
			for i, m := range msgs {
				if m.Kind() != KindResponse && m.Kind() != KindEvent {
					t.Errorf("message %d: kind %v (%q)", i, m.Kind(), m.Name())
				}
			}
			// Re-encoding gives the same bytes back: nothing was lost or altered.
			var re bytes.Buffer
			re.WriteString(banner + "\r\n")
			for _, m := range msgs {
				re.WriteString(m.String())
			}
			if !bytes.Equal(re.Bytes(), raw) {
				t.Errorf("re-encoded stream differs from the capture")
			}

			t.Run("recorded_reads", func(t *testing.T) {
				_, got, err := decodeAll(t, &chunkReader{chunks: rxChunks(t, name)})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, msgs) {
					t.Fatal("split at the recorded recv() boundaries, the decode differs")
				}
			})
			t.Run("random_splits", func(t *testing.T) {
				for seed := uint64(1); seed <= 5; seed++ {
					rng := rand.New(rand.NewPCG(seed, 42))
					_, got, err := decodeAll(t, &chunkReader{chunks: randomChunks(raw, rng)})
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, msgs) {
						t.Fatalf("seed %d: decode differs", seed)
					}
				}
			})
			t.Run("one_byte_reads", func(t *testing.T) {
				_, got, err := decodeAll(t, iotest.OneByteReader(bytes.NewReader(raw)))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, msgs) {
					t.Fatal("decode differs")
				}
			})
			t.Run("timeouts_between_reads", func(t *testing.T) {
				rd := NewReader(&stallingReader{chunks: rxChunks(t, name)}, Limits{})
				var got []*Message
				var timeouts int
				banner := ""
				for banner == "" {
					b, err := rd.ReadBanner()
					if errors.Is(err, errTimeout) {
						timeouts++
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					banner = b
				}
				for {
					m, err := rd.ReadMessage()
					if errors.Is(err, errTimeout) {
						timeouts++
						continue
					}
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, m)
				}
				if timeouts == 0 {
					t.Fatal("no timeout was injected")
				}
				if !reflect.DeepEqual(got, msgs) {
					t.Fatal("a read timeout lost or changed data")
				}
			})
		})
	}
}

func decodeCapture(t *testing.T, name string) []*Message {
	t.Helper()
	_, msgs, err := decodeAll(t, bytes.NewReader(fixtures.Read(t, "asterisk", name+".rx.raw")))
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func byActionID(msgs []*Message, id string) []*Message {
	var out []*Message
	for _, m := range msgs {
		if m.Get("ActionID") == id {
			out = append(out, m)
		}
	}
	return out
}

func TestReplayMeaning(t *testing.T) {
	t.Run("percent_value_and_empty_value", func(t *testing.T) {
		msgs := decodeCapture(t, "ami_actions_basic")
		g := byActionID(msgs, "getvar-global")
		if len(g) != 1 || g[0].Get("Value") != "50% used: a=b; c" {
			t.Fatalf("getvar-global: %v", g)
		}
		u := byActionID(msgs, "getvar-unset")
		if v, ok := u[0].Lookup("Value"); !ok || v != "" {
			t.Fatalf("getvar-unset Value = %q, present %v", v, ok)
		}
		ping := msgs[2] // the Ping sent without ActionID
		if ping.Get("Ping") != "Pong" || ping.Get("ActionID") != "" {
			t.Fatalf("unexpected %v", ping)
		}
	})
	t.Run("repeated_output_headers", func(t *testing.T) {
		msgs := decodeCapture(t, "ami_call_local_dial_actions")
		out := byActionID(msgs, "cmd-active")[0].Values("Output")
		if len(out) != 8 {
			t.Fatalf("%d Output lines", len(out))
		}
		if !strings.HasSuffix(out[0], "Application(Data)             ") {
			t.Errorf("trailing spaces lost: %q", out[0])
		}
		if out[5] != "4 active channels" {
			t.Errorf("Output[5] = %q", out[5])
		}
		st := byActionID(msgs, "status-live")
		if len(st) != 3 {
			t.Fatalf("status-live: %d messages", len(st))
		}
		vars := st[1].Values("Variable")
		if !reflect.DeepEqual(vars, []string{"LICENSE_FEATURE=g729", "LIC_NOTE=50% used: a=b"}) {
			t.Errorf("Variable headers %q", vars)
		}
		if last := st[1].Fields[len(st[1].Fields)-1]; last.Key != "ActionID" {
			t.Errorf("Status event should end with ActionID, ends with %v", last)
		}
	})
	t.Run("list_response", func(t *testing.T) {
		msgs := decodeCapture(t, "ami_call_local_dial_actions")
		l := byActionID(msgs, "csc-active")
		if len(l) != 6 {
			t.Fatalf("csc-active: %d messages", len(l))
		}
		if l[0].Kind() != KindResponse || l[0].Get("EventList") != "start" {
			t.Errorf("first: %v", l[0])
		}
		for _, it := range l[1:5] {
			if it.Kind() != KindEvent || it.Name() != "CoreShowChannel" {
				t.Errorf("item: %v", it)
			}
		}
		if l[5].Name() != "CoreShowChannelsComplete" || l[5].Get("ListItems") != "4" {
			t.Errorf("complete: %v", l[5])
		}
		if got := l[2].Get("Uniqueid"); got != "1795386281.0" {
			t.Errorf("second item Uniqueid %q", got)
		}
	})
	t.Run("originate_response_is_event", func(t *testing.T) {
		msgs := decodeCapture(t, "ami_originate_variants")
		var failures int
		for _, m := range msgs {
			if m.Name() == "OriginateResponse" {
				if m.Kind() != KindEvent {
					t.Errorf("OriginateResponse classified %v", m.Kind())
				}
				if m.Get("Response") == "Failure" && m.Get("Reason") == "0" {
					failures++
				}
			}
		}
		if failures != 1 {
			t.Errorf("%d failed OriginateResponse events, want 1", failures)
		}
	})
	t.Run("shutdown_then_eof", func(t *testing.T) {
		msgs := decodeCapture(t, "ami_asterisk_shutdown")
		last := msgs[len(msgs)-1]
		if last.Name() != "Shutdown" || last.Get("Shutdown") != "Cleanly" || last.Get("Restart") != "False" {
			t.Fatalf("last message %v", last)
		}
	})
	t.Run("login_failed", func(t *testing.T) {
		msgs := decodeCapture(t, "ami_login_failed")
		if len(msgs) != 1 || msgs[0].Name() != "Error" || msgs[0].Get("Message") != "Authentication failed" {
			t.Fatalf("%v", msgs)
		}
	})
	t.Run("faxstats_follow_event", func(t *testing.T) {
		msgs := decodeCapture(t, "ami_fax_spandsp")
		fs := byActionID(msgs, "faxstats")
		if len(fs) != 2 || fs[1].Name() != "FAXStats" || fs[1].Get("CurrentSessions") != "2" {
			t.Fatalf("%v", fs)
		}
	})
}
