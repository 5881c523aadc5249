package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

// DefaultHEPAddr is where a HEP listener binds when given no address: the usual
// HEP port, on loopback only (a wider address must be asked for).
const DefaultHEPAddr = "127.0.0.1:9060"

// HEPOptions tune a HEPServer. A zero field means its default.
type HEPOptions struct {
	// Logger receives connection-level events (a TCP peer sending non-HEP, a
	// refused connection). Default: discard.
	Logger *slog.Logger
	// MaxConns caps concurrent TCP connections (default 256); more are refused.
	MaxConns int
}

// HEPServer receives HEPv3 as Asterisk's res_hep, Kamailio's siptrace and heplify
// send it: over UDP one datagram per HEP message, over TCP a stream of HEP
// messages framed by their length field. The SIP messages inside are handed to
// the handler one at a time (calls are serialised, whatever the number of TCP
// connections), with the HEP timestamp (or the arrival time if HEP has none).
type HEPServer struct {
	network string
	sensor  string
	log     *slog.Logger
	maxConn int

	pc net.PacketConn
	ln net.Listener

	mu  sync.Mutex // serialises the handler and the decoder
	dec *Decoder
}

// NewHEPServer binds network ("udp", "udp4", "udp6", "tcp", "tcp4", "tcp6") at
// addr (DefaultHEPAddr when empty; port 0 picks a free one, see Addr). Once it
// returns, the socket is bound: senders may start; Run serves them.
func NewHEPServer(network, addr, sensor string, h Handler, opt HEPOptions) (*HEPServer, error) {
	if addr == "" {
		addr = DefaultHEPAddr
	}
	s := &HEPServer{network: network, sensor: sensor, log: opt.Logger, maxConn: opt.MaxConns}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "sipmon/hep")
	if s.maxConn <= 0 {
		s.maxConn = 256
	}
	s.dec = NewDecoder(sensor, h, DecoderOptions{})
	var err error
	switch {
	case strings.HasPrefix(network, "udp"):
		s.pc, err = net.ListenPacket(network, addr)
	case strings.HasPrefix(network, "tcp"):
		s.ln, err = net.Listen(network, addr)
	default:
		return nil, fmt.Errorf("hep listener: network %q: want udp or tcp", network)
	}
	if err != nil {
		return nil, fmt.Errorf("hep listener: %w", err)
	}
	return s, nil
}

// Addr is the bound address.
func (s *HEPServer) Addr() net.Addr {
	if s.pc != nil {
		return s.pc.LocalAddr()
	}
	return s.ln.Addr()
}

// Stats returns the counts so far (Packets counts HEP messages received).
func (s *HEPServer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dec.Stats()
}

// Run serves until ctx ends (then it returns nil) or the handler returns an error
// (then it returns that error). It closes the socket and every TCP connection
// before returning. Bad input never stops it: it is counted (HEPErrors) and, on
// TCP, ends that one connection.
func (s *HEPServer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() {
		if s.pc != nil {
			s.pc.Close()
		} else {
			s.ln.Close()
		}
	})
	defer stop()
	var err error
	if s.pc != nil {
		err = s.serveUDP(ctx)
		s.pc.Close()
	} else {
		err = s.serveTCP(ctx, cancel)
		s.ln.Close()
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause // the handler's error
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// message hands one HEP message to the decoder under the lock.
func (s *HEPServer) message(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dec.HEP(b, time.Now())
}

func (s *HEPServer) serveUDP(ctx context.Context) error {
	buf := make([]byte, 65535)
	for {
		n, _, err := s.pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("hep listener: reading udp: %w", err)
		}
		if err := s.message(buf[:n]); err != nil {
			return err
		}
	}
}

func (s *HEPServer) serveTCP(ctx context.Context, fail context.CancelCauseFunc) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	closeAll := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer func() {
		closeAll()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("hep listener: accepting: %w", err)
		}
		mu.Lock()
		if len(conns) >= s.maxConn || ctx.Err() != nil {
			mu.Unlock()
			s.log.Warn("refusing HEP connection: too many", "peer", c.RemoteAddr().String(), "max", s.maxConn)
			c.Close()
			continue
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.serveConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
			if err != nil {
				fail(err)
			}
		}()
	}
}

// serveConn reads HEP messages framed by their length until the peer closes. It
// returns only the handler's error; a framing error ends the connection (a
// length-framed stream cannot be resynchronised reliably).
func (s *HEPServer) serveConn(c net.Conn) error {
	r := bufio.NewReaderSize(c, 64<<10)
	buf := make([]byte, 65535)
	peer := c.RemoteAddr().String()
	for {
		if _, err := io.ReadFull(r, buf[:hep.HeaderLen]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("HEP connection ended", "peer", peer, "err", err)
			}
			return nil
		}
		n, ok := hep.Length(buf[:hep.HeaderLen])
		if !ok || n < hep.HeaderLen {
			s.countError()
			s.log.Warn("closing HEP connection: not a HEPv3 stream", "peer", peer)
			return nil
		}
		if _, err := io.ReadFull(r, buf[hep.HeaderLen:n]); err != nil {
			s.countError()
			s.log.Debug("HEP connection ended inside a message", "peer", peer, "err", err)
			return nil
		}
		if err := s.message(buf[:n]); err != nil {
			return err
		}
	}
}

func (s *HEPServer) countError() {
	s.mu.Lock()
	s.dec.stats.HEPErrors++
	s.mu.Unlock()
}

// ListenHEP binds a HEP listener (see NewHEPServer) and serves it until ctx ends.
func ListenHEP(ctx context.Context, network, addr, sensor string, h Handler) error {
	s, err := NewHEPServer(network, addr, sensor, h, HEPOptions{})
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
