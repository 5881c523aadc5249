package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/dialplan/agi"
	"github.com/licbridge/licbridge/internal/testkit/realasterisk"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// BenchmarkFastAGIRealAsterisk times what a call sees of a FastAGI
// admission: the AGI() step of the printed dialplan, measured inside a real
// Asterisk 22 (STRFTIME's microseconds before and after it), not by our own
// client. Three targets, interleaved one call each in turn: a daemon built by
// New on a real redis-server, one on the embedded store, and the floor: a
// FastAGI server that answers at once as ours does (EXEC MSet, then its
// write side shut) without deciding anything. It reports each one's p50 and
// p99 and the Redis daemon's p99 over the floor's, the ratio that does not
// depend on how busy the machine is. Calls are one at a time.
//
//	go test -run '^$' -bench FastAGIRealAsterisk -benchtime 300x ./daemon
func BenchmarkFastAGIRealAsterisk(b *testing.B) {
	realasterisk.Find(b)
	srv := redistest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const common = "no_asterisk: true\nagi: {listen: '127.0.0.1:0'}\nhttp: {listen: '127.0.0.1:0'}\n"
	redisD := benchDaemon(b, ctx, "bench-ast-redis", common+"store: {redis: '"+srv.Addr+"'}\n")
	memD := benchDaemon(b, ctx, "bench-ast-mem", common)
	targets := []struct {
		name, addr string
		d          *Daemon // nil for the floor
	}{
		{"redis", redisD.Node().AGIAddr(), redisD},
		{"mem", memD.Node().AGIAddr(), memD},
		{"floor", floorAGI(b), nil},
	}
	var dp strings.Builder
	for _, t := range targets {
		fmt.Fprintf(&dp, `
[lbbench-%s]
exten => s,1,Set(T0=${STRFTIME(,,%%s%%6q)})
 same => n,AGI(agi://%s/admit,g729,linkedid=${CHANNEL(linkedid)})
 same => n,Set(T1=${STRFTIME(,,%%s%%6q)})
 same => n,Answer()
 same => n,Wait(60)
`, t.name, t.addr)
	}
	ast := realasterisk.Start(b, realasterisk.Options{Dialplan: dp.String()})
	lat := make([][]time.Duration, len(targets))
	call := func(k int) error {
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		t := targets[k]
		c, err := ast.Originate(cctx, "lbbench-"+t.name)
		if err != nil {
			return fmt.Errorf("%s: originate: %w", t.name, err)
		}
		defer func() {
			_ = ast.Hangup(cctx, c.Half1)
			if t.d != nil {
				t.d.Bridge().Release(cctx, c.Uniqueid) // as the hangup would, untimed
			}
		}()
		st, err := ast.Getvar(cctx, c.Half2, admission.VarStatus)
		if err != nil || st != admission.StatusAdmitted {
			return fmt.Errorf("%s: %s = %q (%v), want %s", t.name, admission.VarStatus, st, err, admission.StatusAdmitted)
		}
		// T0 and T1 are microseconds since the epoch (the private instance
		// has no func_math to subtract them).
		var at [2]int64
		for n, name := range []string{"T0", "T1"} {
			v, err := ast.Getvar(cctx, c.Half2, name)
			if at[n], _ = strconv.ParseInt(v, 10, 64); err != nil || at[n] == 0 {
				return fmt.Errorf("%s: %s = %q (%v)", t.name, name, v, err)
			}
		}
		if at[1] < at[0] {
			return fmt.Errorf("%s: AGI() ended at %d µs, before it began at %d", t.name, at[1], at[0])
		}
		lat[k] = append(lat[k], time.Duration(at[1]-at[0])*time.Microsecond)
		return nil
	}
	// A first round each: dial, script load, first key read.
	for k := range targets {
		if err := call(k); err != nil {
			b.Fatal(err)
		}
		lat[k] = lat[k][:0]
	}
	b.ResetTimer()
	for i := range b.N {
		for j := range targets {
			// The order rotates so that none always runs first in a round.
			if err := call((i + j) % len(targets)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	names := make([]string, len(targets))
	for k, t := range targets {
		names[k] = t.name
	}
	p := reportPercentiles(b, names, lat)
	b.ReportMetric(p[0][1]/p[2][1], "redis÷floor-p99")
}

// floorAGI serves FastAGI sessions that answer ADMITTED at once, the way our
// server answers (one EXEC MSet, the write side shut at once), without
// deciding anything: the least an admission over FastAGI can cost. It
// returns its address; it stops with the benchmark.
func floorAGI(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	answer := fmt.Sprintf("EXEC MSet \"%s=%s\"\n", admission.VarStatus, admission.StatusAdmitted)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				r := bufio.NewReader(nc)
				if _, err := agi.ReadEnv(r, agi.Limits{}); err != nil {
					return
				}
				if _, err := io.WriteString(nc, answer); err != nil {
					return
				}
				_ = nc.(*net.TCPConn).CloseWrite()
				_, _ = io.Copy(io.Discard, r) // the reply and HANGUP, until Asterisk closes
			}()
		}
	}()
	return ln.Addr().String()
}
