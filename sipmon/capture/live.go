package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// LiveOptions tune a live capture. A zero field means its default.
type LiveOptions struct {
	// Decoder bounds the TCP and fragment state (see DecoderOptions).
	Decoder DecoderOptions
	// Record, when set, receives every captured frame (after the kernel filter)
	// as a classic pcap with nanosecond timestamps, so that a live run can be read
	// back later with ReadFile. Writes happen on Run's goroutine; a write error
	// stops Run.
	Record io.Writer
}

// Live is a capture on one interface: NewLive opens it (from then on packets are
// captured), Run reads them.
type Live struct {
	iface string
	src   liveSource
	link  linkType

	mu  sync.Mutex // guards dec (Stats may be called while Run works)
	dec *decoder

	rec *pcapgo.Writer // nil unless LiveOptions.Record

	// filteredSince is when the kernel filter was attached; zero once a packet
	// from after that was read.
	filteredSince time.Time
}

// liveSource is the packet socket behind a Live capture (AF_PACKET on Linux).
type liveSource interface {
	// next returns the next frame, errLiveTimeout when none came within the poll
	// period, or another error.
	next() ([]byte, time.Time, error)
	setBPF([]bpf.RawInstruction) error
	close()
}

var errLiveTimeout = errors.New("live: poll timeout")

// NewLive opens a capture on iface ("any" for all interfaces), the one entry
// point for live capture; Run reads it until ctx ends (then it returns nil) or
// h returns an error, handing SIP messages to h. filter, when not empty, is a
// filter expression (see Filter: a subset of pcap-filter, applied in user
// space after IP reassembly) or, after RawBPFPrefix, a compiled BPF program as
// `tcpdump -ddd` prints it, which the kernel applies. Live capture needs
// CAP_NET_RAW and is Linux only.
func NewLive(iface, filter, sensor string, h Handler, opt LiveOptions) (*Live, error) {
	src, link, err := openLive(iface)
	if err != nil {
		return nil, fmt.Errorf("live capture on %s: %w", iface, err)
	}
	prog, expr, err := liveFilter(filter)
	if err != nil {
		src.close()
		return nil, fmt.Errorf("live capture on %s: %w", iface, err)
	}
	if expr != nil {
		opt.Decoder.Filter = expr
	}
	if prog, err = dropLoopbackOutgoing(prog); err == nil {
		err = src.setBPF(prog)
	}
	if err != nil {
		src.close()
		return nil, fmt.Errorf("live capture on %s: setting the kernel filter: %w", iface, err)
	}
	// The socket captured from the moment it was bound, before the filter was
	// set: Run skips what the ring holds from before now.
	l := &Live{iface: iface, src: src, link: link, dec: newDecoder(sensor, h, opt.Decoder), filteredSince: time.Now()}
	if opt.Record != nil {
		l.rec = pcapgo.NewWriterNanos(opt.Record)
		if err := l.rec.WriteFileHeader(liveSnaplen, layers.LinkType(link)); err != nil {
			src.close()
			return nil, fmt.Errorf("live capture on %s: recording: %w", iface, err)
		}
	}
	return l, nil
}

// Stats returns the counts so far.
func (l *Live) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dec.Stats()
}

// Run reads packets until ctx ends (nil) or the handler fails (its error). It
// closes the capture before returning.
func (l *Live) Run(ctx context.Context) error {
	defer l.src.close()
	for ctx.Err() == nil {
		data, ts, err := l.src.next()
		if errors.Is(err, errLiveTimeout) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("live capture on %s: %w", l.iface, err)
		}
		if !l.filteredSince.IsZero() {
			if ts.Before(l.filteredSince) {
				continue // captured before the kernel filter applied
			}
			l.filteredSince = time.Time{}
		}
		if l.rec != nil {
			ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
			if err := l.rec.WritePacket(ci, data); err != nil {
				return fmt.Errorf("live capture on %s: recording: %w", l.iface, err)
			}
		}
		l.mu.Lock()
		err = l.dec.Frame(l.link, data, ts)
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dec.Flush()
}

// packetOutgoing is the kernel's PACKET_OUTGOING packet type.
const packetOutgoing = 4

// dropLoopbackOutgoing prefixes a BPF program (nil: accept all) with a test that
// drops packets going out of the loopback interface: a packet socket sees each
// loopback packet twice, going out and coming in, and libpcap drops the outgoing
// copy the same way (in user space). Jumps in BPF are relative, so the prefix
// leaves the program's own jumps intact.
func dropLoopbackOutgoing(prog []bpf.RawInstruction) ([]bpf.RawInstruction, error) {
	if len(prog) == 0 {
		prog = []bpf.RawInstruction{{Op: 0x06, K: 0xffffffff}} // ret #-1: accept
	}
	lo := -1
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 {
			lo = ifc.Index
			break
		}
	}
	if lo < 0 {
		return prog, nil
	}
	prefix, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipFalse: 3},
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(lo), SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	if len(prefix)+len(prog) > maxBPFInstructions {
		return nil, fmt.Errorf("program of %d instructions is too long", len(prog))
	}
	return append(prefix, prog...), nil
}

// RawBPFPrefix marks a live filter as a compiled BPF program in the form
// `tcpdump -ddd` prints (a count, then "code jt jf k" per line or per comma),
// for the kernel to apply: "raw-bpf:4,40 0 0 12,...". Without it a filter is
// always an expression (see Filter), so "10.0.0.1 and port 5060" is not
// mistaken for a program because it starts with a digit.
const RawBPFPrefix = "raw-bpf:"

// liveFilter reads a live capture filter: a kernel program when it has
// RawBPFPrefix, else an expression applied in user space; empty: neither.
func liveFilter(filter string) ([]bpf.RawInstruction, *Filter, error) {
	f := strings.TrimSpace(filter)
	if raw, ok := strings.CutPrefix(f, RawBPFPrefix); ok {
		prog, err := parseDDD(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("filter %q: %w", filter, err)
		}
		return prog, nil, nil
	}
	expr, err := ParseFilter(f)
	return nil, expr, err
}

// parseDDD reads the decimal BPF listing of `tcpdump -ddd`: the instruction count,
// then four numbers per instruction, separated by newlines or commas.
func parseDDD(s string) ([]bpf.RawInstruction, error) {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == ';' })
	if len(lines) == 0 {
		return nil, errors.New("empty BPF program")
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || n <= 0 || n > maxBPFInstructions || n != len(lines)-1 {
		return nil, fmt.Errorf("BPF program: count %q does not match %d instructions", lines[0], len(lines)-1)
	}
	prog := make([]bpf.RawInstruction, 0, n)
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			return nil, fmt.Errorf("BPF instruction %d: %q: want 4 numbers", i+1, l)
		}
		var v [4]uint64
		for j, x := range f {
			v[j], err = strconv.ParseUint(x, 10, 32)
			if err != nil || (j == 0 && v[j] > 0xffff) || ((j == 1 || j == 2) && v[j] > 0xff) {
				return nil, fmt.Errorf("BPF instruction %d: %q: bad number %q", i+1, l, x)
			}
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	return prog, nil
}

// maxBPFInstructions is the kernel's BPF_MAXINSNS.
const maxBPFInstructions = 4096

// liveSnaplen is the most of a frame a live capture keeps: 64 KiB, loopback's MTU.
const liveSnaplen = 1 << 16
