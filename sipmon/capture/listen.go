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

// Defaults of HEPOptions.
const (
	DefaultHEPMaxConns = 256
	// DefaultHEPIdleTimeout: an honest sender's stream is rarely quiet this
	// long (SIP OPTIONS keepalives alone come every minute or so), and a sender
	// whose connection was closed reconnects.
	DefaultHEPIdleTimeout = 2 * time.Minute
	// DefaultHEPReadBuffer is the UDP receive buffer asked for: about a
	// second of a busy node's HEP (thousands of messages), where the kernel's
	// usual default (net.core.rmem_default, 208 KiB) loses legs in a burst.
	DefaultHEPReadBuffer = 4 << 20
	// hepRefusalLogEvery rate-limits the WARN about refused TCP connections.
	hepRefusalLogEvery = 10 * time.Second
)

// HEPOptions tune a HEPServer. A zero field means its default.
type HEPOptions struct {
	// Logger receives connection-level events (a TCP peer sending non-HEP, a
	// refused connection). Default: discard.
	Logger *slog.Logger
	// MaxConns caps concurrent TCP connections (default DefaultHEPMaxConns,
	// 256); more are closed at once, with a WARN at most every 10s.
	MaxConns int
	// IdleTimeout closes a TCP connection that has sent no complete HEP
	// message for this long, so that idle or stalled peers cannot hold the
	// MaxConns slots. Default DefaultHEPIdleTimeout (2m); negative: never.
	IdleTimeout time.Duration
	// ReadBuffer is the UDP socket's receive buffer (SO_RCVBUF) to ask for, in
	// bytes. Default DefaultHEPReadBuffer (4 MiB). The kernel caps it at
	// net.core.rmem_max unless the process has CAP_NET_ADMIN; when it grants
	// less, NewHEPServer logs a WARN. See HEPServer.ReadBuffer.
	ReadBuffer int
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
	idle    time.Duration
	rcvBuf  int // granted SO_RCVBUF, as asked (0: unknown or TCP)

	refusedMu     sync.Mutex
	refusedLogged time.Time
	refusedQuiet  int // refusals since the last WARN

	pc net.PacketConn
	ln net.Listener

	mu  sync.Mutex // serialises the handler and the decoder
	dec *decoder
}

// NewHEPServer binds network ("udp", "udp4", "udp6", "tcp", "tcp4", "tcp6") at
// addr (DefaultHEPAddr when empty; port 0 picks a free one, see Addr). Once it
// returns, the socket is bound: senders may start; Run serves them.
func NewHEPServer(network, addr, sensor string, h Handler, opt HEPOptions) (*HEPServer, error) {
	if addr == "" {
		addr = DefaultHEPAddr
	}
	s := &HEPServer{network: network, sensor: sensor, log: opt.Logger, maxConn: opt.MaxConns, idle: opt.IdleTimeout}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "sipmon/hep")
	if s.maxConn <= 0 {
		s.maxConn = DefaultHEPMaxConns
	}
	if s.idle == 0 {
		s.idle = DefaultHEPIdleTimeout
	}
	if opt.ReadBuffer <= 0 {
		opt.ReadBuffer = DefaultHEPReadBuffer
	}
	s.dec = newDecoder(sensor, h, DecoderOptions{})
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
	if s.pc != nil {
		s.rcvBuf = s.setReadBuffer(opt.ReadBuffer, true)
	}
	return s, nil
}

// setReadBuffer asks for an n-byte UDP receive buffer and returns what the
// kernel granted (0 when it cannot tell); with force, past net.core.rmem_max
// where the process may. Less than asked is logged, not an error: the
// listener works, it only loses more in a burst.
func (s *HEPServer) setReadBuffer(n int, force bool) int {
	uc, ok := s.pc.(*net.UDPConn)
	if !ok {
		return 0
	}
	if err := uc.SetReadBuffer(n); err != nil {
		s.log.Warn("HEP UDP receive buffer not set", "asked", n, "err", err)
	}
	got, err := grantedReadBuffer(uc, n, force)
	switch {
	case err != nil:
		s.log.Warn("HEP UDP receive buffer unknown", "asked", n, "err", err)
	case got > 0 && got < n:
		s.log.Warn("HEP UDP receive buffer smaller than asked: bursts may lose messages; raise net.core.rmem_max",
			"asked", n, "granted", got)
	default:
		s.log.Debug("HEP UDP receive buffer", "asked", n, "granted", got)
	}
	return got
}

// ReadBuffer is the UDP receive buffer the kernel granted, in the units it was
// asked in (Linux reports twice that for its bookkeeping; this is half of
// it); 0 for TCP or where it cannot be read back.
func (s *HEPServer) ReadBuffer() int { return s.rcvBuf }

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
			c.Close()
			s.refused(c.RemoteAddr())
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
		// Each message must arrive whole within the idle timeout: senders
		// write a message at once, so this bounds idle and stalled peers alike.
		if s.idle > 0 {
			if err := c.SetReadDeadline(time.Now().Add(s.idle)); err != nil {
				return nil // closed under us
			}
		}
		if _, err := io.ReadFull(r, buf[:hep.HeaderLen]); err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				s.log.Info("closing idle HEP connection", "peer", peer, "idle", s.idle)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
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

// refused logs a connection refused for MaxConns at WARN, at most once every
// hepRefusalLogEvery with the count of those left unlogged, so that a flood
// of connections is not a flood of log lines too.
func (s *HEPServer) refused(peer net.Addr) {
	s.refusedMu.Lock()
	now := time.Now()
	if !s.refusedLogged.IsZero() && now.Sub(s.refusedLogged) < hepRefusalLogEvery {
		s.refusedQuiet++
		s.refusedMu.Unlock()
		return
	}
	quiet := s.refusedQuiet
	s.refusedLogged, s.refusedQuiet = now, 0
	s.refusedMu.Unlock()
	s.log.Warn("refusing HEP connection: too many", "peer", peer.String(), "max", s.maxConn, "refused_unlogged", quiet)
}

func (s *HEPServer) countError() {
	s.mu.Lock()
	s.dec.stats.HEPErrors++
	s.mu.Unlock()
}
