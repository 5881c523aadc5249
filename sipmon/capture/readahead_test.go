package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

var errBoom = errors.New("boom")

func TestReadahead(t *testing.T) {
	src := bytes.Repeat([]byte("0123456789abcdef"), 300000) // ~4.6 buffers
	t.Run("whole", func(t *testing.T) {
		ra := newReadahead(bytes.NewReader(src))
		defer ra.Close()
		if err := iotest.TestReader(ra, src); err != nil {
			t.Error(err)
		}
	})
	t.Run("source error", func(t *testing.T) {
		boom := errors.New("boom")
		ra := newReadahead(io.MultiReader(bytes.NewReader(src[:100]), iotest.ErrReader(boom)))
		defer ra.Close()
		got, err := io.ReadAll(ra)
		if !errors.Is(err, boom) || !bytes.Equal(got, src[:100]) {
			t.Errorf("read %d bytes, err %v; want 100 bytes then boom", len(got), err)
		}
	})
	// Peek serves the magic of a capture (ReadPaths reads gzip through the
	// readahead with no bufio.Reader on top): it consumes nothing, and a
	// stream shorter than asked gives io.EOF, or the source's error.
	t.Run("peek", func(t *testing.T) {
		ra := newReadahead(bytes.NewReader(src))
		defer ra.Close()
		for range 2 {
			if p, err := ra.Peek(4); err != nil || string(p) != "0123" {
				t.Fatalf("Peek(4) = %q, %v; want \"0123\"", p, err)
			}
		}
		if err := iotest.TestReader(ra, src); err != nil {
			t.Error(err)
		}
	})
	peekShort := []struct {
		name string
		src  io.Reader
		want error
	}{
		{"empty", bytes.NewReader(nil), io.EOF},
		{"shorter", bytes.NewReader([]byte("ab")), io.EOF},
		{"shorter then error", io.MultiReader(bytes.NewReader([]byte("ab")), iotest.ErrReader(errBoom)), errBoom},
		{"error at once", iotest.ErrReader(errBoom), errBoom},
	}
	for _, tc := range peekShort {
		t.Run("peek "+tc.name, func(t *testing.T) {
			ra := newReadahead(tc.src)
			defer ra.Close()
			if _, err := ra.Peek(4); !errors.Is(err, tc.want) {
				t.Errorf("Peek(4): err %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("closed early", func(t *testing.T) {
		ra := newReadahead(bytes.NewReader(src))
		if _, err := ra.Read(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		ra.Close() // must return: the filler stops although nobody drains it
		ra.Close()
	})
}
