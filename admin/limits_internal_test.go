package admin

import (
	"context"
	"testing"
	"time"
)

// TestDefaultLimits: a zero Options gets bounded, sane connection limits, and
// set ones are kept.
func TestDefaultLimits(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.httpServer(context.Background())
	for _, c := range []struct {
		name     string
		got      time.Duration
		min, max time.Duration
	}{
		{"ReadHeaderTimeout", h.ReadHeaderTimeout, time.Second, 30 * time.Second},
		{"ReadTimeout", h.ReadTimeout, time.Second, time.Minute},
		{"WriteTimeout", h.WriteTimeout, 5 * time.Second, 2 * time.Minute},
		// Above a 30 s scrape interval, well under an hour.
		{"IdleTimeout", h.IdleTimeout, 31 * time.Second, 5 * time.Minute},
	} {
		if c.got < c.min || c.got > c.max {
			t.Errorf("default %s = %v, want from %v to %v", c.name, c.got, c.min, c.max)
		}
	}
	if h.MaxHeaderBytes < 8<<10 || h.MaxHeaderBytes > 1<<20 {
		t.Errorf("default MaxHeaderBytes = %d", h.MaxHeaderBytes)
	}
	if s.opt.MaxConns < 16 || s.opt.MaxConns > 256 {
		t.Errorf("default MaxConns = %d", s.opt.MaxConns)
	}
	if s.opt.MaxBodyBytes <= 0 || s.opt.MaxBodyBytes > 1<<20 {
		t.Errorf("default MaxBodyBytes = %d", s.opt.MaxBodyBytes)
	}

	set := Options{ReadHeaderTimeout: 1, ReadTimeout: 2, WriteTimeout: 3, IdleTimeout: 4, MaxHeaderBytes: 5, MaxConns: 6, MaxBodyBytes: 7}
	s, err = New(set)
	if err != nil {
		t.Fatal(err)
	}
	h = s.httpServer(context.Background())
	if h.ReadHeaderTimeout != 1 || h.ReadTimeout != 2 || h.WriteTimeout != 3 || h.IdleTimeout != 4 || h.MaxHeaderBytes != 5 ||
		s.opt.MaxConns != 6 || s.opt.MaxBodyBytes != 7 {
		t.Errorf("set limits not kept: %+v", s.opt)
	}
}
