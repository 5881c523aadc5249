package dialplan

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
)

// BenchmarkServeSession measures what one FastAGI admission costs the server
// (time and allocations per session), with a logger as licbridge run builds it
// (text, INFO) and a client that does as little as it can: the environment
// Asterisk sends, then "200 result=1" to every command, one at a time (EXEC
// MSet's own result is 0, which the server does not read as a failure either). Unlike
// BenchmarkAdmit it leaves out the Asterisk double's own costs, so allocs/op is
// nearly all the server's.
//
//	go test -run '^$' -bench ServeSession -benchmem ./dialplan
func BenchmarkServeSession(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	addr, _ := startServer(b, &yesAdmitter{}, Config{Logger: log})
	// What the GET VARIABLE CHANNEL(linkedid) round trip costs: the printed
	// dialplan passes the linkedid as an argument (or, were Asterisk to send
	// it, agi_linkedid), and the server skips it; an older dialplan does not.
	env := agiclient.Env(addr, channel(1), "admit,g729")
	withLinkedid := append([]byte("agi_linkedid: 1795386360.29\n"), env...)
	printed := agiclient.Env(addr, channel(1), printedScript(b, "admit", "g729"))
	for _, tc := range []struct {
		name string
		env  []byte
	}{{"asterisk22", env}, {"linkedid-in-env", withLinkedid}, {"printed-dialplan", printed}} {
		b.Run(tc.name, func(b *testing.B) {
			buf := bufio.NewReaderSize(nil, 4096)
			b.ReportAllocs()
			for i := range b.N {
				if err := rawSession(addr, tc.env, buf); err != nil {
					b.Fatalf("session %d: %v", i, err)
				}
			}
		})
	}
}

// rawSession runs one admission as Asterisk's AGI() would, with no checks
// beyond the status the server sets.
func rawSession(addr string, env []byte, r *bufio.Reader) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.Write(env); err != nil {
		return err
	}
	r.Reset(nc)
	admitted := false
	for {
		line, err := r.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			if !admitted {
				return fmt.Errorf("closed without LICBRIDGE_STATUS ADMITTED")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if l := string(line); strings.HasPrefix(l, "SET VARIABLE LICBRIDGE_STATUS \"ADMITTED\"") ||
			strings.HasPrefix(l, "EXEC MSet ") && strings.HasSuffix(l, ",LICBRIDGE_STATUS=ADMITTED\"\n") {
			admitted = true
		}
		if _, err := nc.Write([]byte("200 result=1\n")); err != nil {
			return err
		}
	}
}
