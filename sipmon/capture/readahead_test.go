package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

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
	t.Run("closed early", func(t *testing.T) {
		ra := newReadahead(bytes.NewReader(src))
		if _, err := ra.Read(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		ra.Close() // must return: the filler stops although nobody drains it
		ra.Close()
	})
}
