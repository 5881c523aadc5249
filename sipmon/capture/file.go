package capture

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	// klauspost's inflate reads a *bufio.Reader without an interface call per
	// byte: about a third less CPU than compress/gzip on the perf capture
	// (BenchmarkInflate), where inflating is the largest part of the read.
	"github.com/klauspost/compress/gzip"
)

// readBufferSize is the read-ahead on capture files and on the gzip stream: large
// enough that the pcap reader's small record reads rarely reach the OS or inflate.
const readBufferSize = 1 << 20

// smallBufferSize is the buffer of a file opened for its first record only,
// and of compressed input.
const smallBufferSize = 64 << 10

// useReadahead inflates gzip on its own goroutine (see readahead).
var useReadahead = true

// ctxCheckEvery is how many packets pass between checks of the context.
const ctxCheckEvery = 4096

// DefaultMaxOpen is ReadOptions.MaxOpen's default: how many capture files the
// merge keeps open at once.
const DefaultMaxOpen = 32

// Input names one capture path (a file or a directory of captures) and the sensor
// that recorded it.
type Input struct {
	Sensor string
	Path   string
}

// ParseInput reads the command-line form "[SENSOR=]PATH". A path that itself
// contains '=' can be given as "=PATH" (empty sensor).
func ParseInput(s string) Input {
	if i := strings.IndexByte(s, '='); i >= 0 && !strings.ContainsAny(s[:i], `/\`) {
		return Input{Sensor: s[:i], Path: s[i+1:]}
	}
	return Input{Path: s}
}

// ReadPaths is the one entry point for capture files: it reads files (pcap or
// pcapng, optionally gzip-compressed, detected by content) and directories of
// them (not recursing), possibly of several sensors, and delivers the SIP
// messages of all of them to h merged in capture-time order, tagged with their
// input's sensor. Files are opened as the merge reaches the time of their first
// packet, so a directory of rotated captures keeps only one or two files open,
// and TCP streams and fragments carry over from one file to the next. Each
// sensor has its own decoder state. A file that cannot be read (not a capture,
// truncated: messages before the cut are delivered) is named in the returned
// error and skipped; the others are still read. h's error or the context's
// stops everything. At most one ReadOptions may be given.
func ReadPaths(ctx context.Context, inputs []Input, h Handler, opts ...ReadOptions) (Stats, error) {
	var opt ReadOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
	return readPaths(ctx, inputs, h, opt)
}

// ReadOptions tune ReadPaths.
type ReadOptions struct {
	// Decoder bounds the TCP and fragment state of each sensor.
	Decoder DecoderOptions
	// Progress, when set, is kept up to date while reading.
	Progress *Progress
	// MaxOpen bounds the files open at once (each holds a descriptor and, for
	// gzip, a few MiB of buffers). Zero: DefaultMaxOpen.
	MaxOpen int
}

// Progress tells how far a read has gone, in bytes of the input files as stored
// (compressed files count their compressed size). Its methods are safe to call
// from another goroutine while the read runs, for a progress bar.
type Progress struct {
	read, total atomic.Int64
}

// Read is the bytes of the input files consumed so far.
func (p *Progress) Read() int64 { return p.read.Load() }

// Total is the size of all input files, known once the read has listed them.
func (p *Progress) Total() int64 { return p.total.Load() }

func readPaths(ctx context.Context, inputs []Input, h Handler, opt ReadOptions) (Stats, error) {
	mg := &merge{maxOpen: opt.MaxOpen}
	if mg.maxOpen <= 0 {
		mg.maxOpen = DefaultMaxOpen
	}
	pending, decoders, errs, err := listSources(ctx, inputs, h, opt)
	if err != nil {
		return mg.stats, err
	}
	mg.pending, mg.errs = pending, errs
	defer mg.close()
	runErr := mg.run(ctx)
	if mg.late > 0 {
		mg.errs = append(mg.errs, fmt.Errorf("capture: %d files (the first %s) overlap in time with more than %d others read at once: their packets were delivered out of time order; read fewer overlapping captures together", mg.late, mg.firstLate, mg.maxOpen))
	}
	for _, dec := range decoders {
		if runErr == nil {
			runErr = dec.Flush()
		}
		mg.stats.Add(dec.Stats())
	}
	if runErr != nil {
		return mg.stats, runErr
	}
	return mg.stats, errors.Join(mg.errs...)
}

// merge delivers the records of many files in time order.
type merge struct {
	maxOpen int
	pending []*source // not yet opened, by first packet
	active  sourceHeap
	stats   Stats
	errs    []error
	// last is the time of the last record delivered; late counts the files
	// opened after later records had gone out.
	last      time.Time
	late      int
	firstLate string
}

func (mg *merge) close() {
	for _, s := range mg.active {
		s.close()
	}
	for _, s := range mg.pending {
		s.close()
	}
}

// run delivers every record until the files end, a decoder's handler fails
// or ctx ends.
func (mg *merge) run(ctx context.Context) error {
	for count := 1; ; count++ {
		mg.openDue()
		if len(mg.active) == 0 {
			return nil
		}
		s := mg.active[0]
		if count%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		mg.last = s.ts
		s.dec.file, s.dec.frame, s.dec.fileFrame = s.path, s.records, true
		if err := s.dec.Frame(s.link(), s.data, s.ts); err != nil {
			return err
		}
		if err := s.advance(); err != nil {
			if !errors.Is(err, io.EOF) {
				mg.errs = append(mg.errs, err)
			}
			s.close()
			heap.Pop(&mg.active)
			continue
		}
		heap.Fix(&mg.active, 0)
	}
}

// openDue opens every file whose first packet is due before the next packet
// of the open ones, up to maxOpen: rotated captures (one after the other in
// time) need one or two open per stream, so the merge is exact unless more
// than maxOpen files overlap in time. Then the extra ones wait for a slot,
// their records go out late, and the error says so, rather than opening
// thousands of files (descriptors, memory).
func (mg *merge) openDue() {
	for len(mg.pending) > 0 && len(mg.active) < mg.maxOpen && (len(mg.active) == 0 || !mg.pending[0].first.After(mg.active[0].ts)) {
		s := mg.pending[0]
		if s.first.Before(mg.last) {
			if mg.late++; mg.late == 1 {
				mg.firstLate = s.path
			}
		}
		// Drop the slot: a file read to its end must not stay reachable
		// (with its buffers) until the whole read ends.
		mg.pending[0] = nil
		mg.pending = mg.pending[1:]
		if err := s.open(); err != nil {
			mg.errs = append(mg.errs, err)
			continue
		}
		mg.stats.Files++
		if err := s.advance(); err != nil {
			if !errors.Is(err, io.EOF) {
				mg.errs = append(mg.errs, err)
			}
			s.close()
			continue
		}
		heap.Push(&mg.active, s)
	}
}

// listSources lists the files of the inputs with their first packet's time,
// in that order, and a decoder per sensor; files that cannot be read are in
// errs. The error is the context's.
func listSources(ctx context.Context, inputs []Input, h Handler, opt ReadOptions) (pending []*source, decoders map[string]*decoder, errs []error, err error) {
	decoders = map[string]*decoder{}
	for _, in := range inputs {
		files, err := expand(in.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dec := decoders[in.Sensor]
		if dec == nil {
			dec = newDecoder(in.Sensor, h, opt.Decoder)
			decoders[in.Sensor] = dec
		}
		for _, f := range files {
			first, err := firstPacketTime(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			pending = append(pending, &source{path: f, dec: dec, first: first, progress: opt.Progress})
			if opt.Progress != nil {
				if fi, err := os.Stat(f); err == nil {
					opt.Progress.total.Add(fi.Size())
				}
			}
			if err := ctx.Err(); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	// Files in order of their first packet; the merge opens them lazily.
	slices.SortStableFunc(pending, func(a, b *source) int { return a.first.Compare(b.first) })
	return pending, decoders, errs, nil
}

// expand lists the capture files of a path: the file itself, or a directory's
// regular files (hidden ones skipped), sorted by name. A path that is neither
// (a named pipe, a device) is refused: reading it could block beyond the reach
// of the context, or never end.
func expand(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, notRegular(path, fi.Mode())
		}
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("capture: reading directory %s: %w", path, err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	return out, nil
}

// firstPacketTime opens a capture just to read its first record's time. An empty
// capture sorts first (it delivers nothing anyway).
func firstPacketTime(path string) (time.Time, error) {
	s := &source{path: path, peek: true}
	if err := s.open(); err != nil {
		return time.Time{}, err
	}
	defer s.close()
	if err := s.advance(); err != nil {
		if errors.Is(err, io.EOF) {
			return time.Time{}, nil
		}
		return time.Time{}, err
	}
	return s.ts, nil
}

// packetReader is what pcapgo's two readers have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// source is one open capture file in the merge.
type source struct {
	path     string
	dec      *decoder
	first    time.Time
	progress *Progress // nil when not reported
	// peek opens for the first record only (firstPacketTime): small buffers
	// and no readahead, which would inflate megabytes ahead for nothing.
	peek bool

	f        *os.File
	gz       *gzip.Reader
	ra       *readahead
	r        packetReader
	ng       *pcapgo.NgReader
	linkType linkType
	ngLinks  []linkType

	data    []byte
	ts      time.Time
	iface   int
	records int // records read so far: the current one's frame number
}

// errNotRegular is the reason a named pipe, device or socket is not read.
var errNotRegular = errors.New("not a regular file")

func notRegular(path string, m os.FileMode) error {
	kind := "type " + m.Type().String()
	switch {
	case m&os.ModeNamedPipe != 0:
		kind = "named pipe"
	case m&os.ModeSocket != 0:
		kind = "socket"
	case m&os.ModeDevice != 0:
		kind = "device"
	}
	return fmt.Errorf("capture: %s: %w (%s)", path, errNotRegular, kind)
}

// open opens the file and its reader: gzip is recognised by its magic, then
// pcapng by its section header, else classic pcap (either byte order, µs or ns).
func (s *source) open() error {
	f, err := openRegular(s.path)
	if err != nil {
		return err
	}
	s.f = f
	r, err := s.stream()
	if err != nil {
		s.close()
		return err
	}
	if err := s.openReader(r); err != nil {
		s.close()
		return err
	}
	return nil
}

// openRegular opens path for reading, refusing anything but a regular file.
// Non-blocking, so that a named pipe put in a file's place cannot block the
// open; then refused like one found by expand.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, fi.Mode())
	}
	return f, nil
}

// peekReader is what stream hands on: a *bufio.Reader, or the readahead.
type peekReader interface {
	io.Reader
	Peek(n int) ([]byte, error)
}

// stream puts the buffering (and inflate, for a gzip file) on s.f.
func (s *source) stream() (peekReader, error) {
	var fr io.Reader = s.f
	if s.progress != nil {
		fr = &countingReader{r: s.f, n: &s.progress.read}
	}
	var gzMagic [2]byte
	n, _ := s.f.ReadAt(gzMagic[:], 0)
	isGzip := n == 2 && gzMagic[0] == 0x1f && gzMagic[1] == 0x8b
	bufSize := readBufferSize
	if s.peek || isGzip {
		// Compressed input is read a byte at a time by inflate, from a
		// smaller buffer: every megabyte allocated is a megabyte of fresh
		// pages to fault in, a measurable part of reading a capture.
		bufSize = smallBufferSize
	}
	br := bufio.NewReaderSize(fr, bufSize)
	if !isGzip {
		return br, nil
	}
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("capture: %s: gzip: %w", s.path, err)
	}
	s.gz = gz
	switch {
	case useReadahead && !s.peek:
		// No bufio.Reader on top: pcapReader reads classic pcap records
		// in place in the readahead's buffers; pcapgo (pcapng, gzip
		// within gzip) puts a bufio.Reader of its own on it.
		s.ra = newReadahead(gz)
		return s.ra, nil
	case s.peek:
		return bufio.NewReaderSize(gz, smallBufferSize), nil
	}
	return bufio.NewReaderSize(gz, readBufferSize), nil
}

// openReader picks the record reader by the stream's magic.
func (s *source) openReader(r peekReader) error {
	magic, err := r.Peek(4)
	if err != nil {
		return fmt.Errorf("capture: %s: too short to be a capture file: %w", s.path, err)
	}
	if magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a {
		// Without WantMixedLinkType, pcapgo silently skips the packets of every
		// interface whose link type differs from the first one's.
		ng, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return fmt.Errorf("capture: %s: pcapng: %w", s.path, err)
		}
		s.ng, s.r = ng, ng
		s.linkType = linkType(ng.LinkType())
		return nil
	}
	var pr interface {
		packetReader
		Snaplen() uint32
		SetSnaplen(uint32)
		LinkType() layers.LinkType
	}
	if s.ra != nil && (magic[0] != 0x1f || magic[1] != 0x8b) {
		// Records read in place in the inflated buffers (pcapReader);
		// gzip within gzip is left to pcapgo, which inflates it again.
		pr, err = newPcapReader(s.ra)
	} else {
		pr, err = pcapgo.NewReader(r)
	}
	if err != nil {
		return fmt.Errorf("capture: %s: not a pcap, pcapng or gzip-compressed capture: %w", s.path, err)
	}
	// Records longer than the header's snap length exist (tcpdump -s0 on some
	// systems); accept up to the largest frame we could ever decode.
	if pr.Snaplen() < 262144 {
		pr.SetSnaplen(262144)
	}
	s.r = pr
	s.linkType = linkType(pr.LinkType())
	return nil
}

// advance reads the next record; io.EOF at a clean end.
func (s *source) advance() error {
	data, ci, err := s.r.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("capture: %s: truncated (last record cut short)", s.path)
		}
		return fmt.Errorf("capture: %s: %w", s.path, err)
	}
	s.data, s.ts, s.iface = data, ci.Timestamp, ci.InterfaceIndex
	s.records++
	return nil
}

// link returns the link type of the current record (pcapng files may mix
// them). A pcapng record's is its interface's, interface 0 included: read
// with mixed link types, pcapgo's LinkType is 0 (BSD loopback) whatever the
// file holds, which made every packet of a one-interface pcapng (dumpcap's
// and Wireshark's own) not IP.
func (s *source) link() linkType {
	if s.ng == nil {
		return s.linkType
	}
	for len(s.ngLinks) <= s.iface {
		s.ngLinks = append(s.ngLinks, 0xffff)
	}
	if s.ngLinks[s.iface] == 0xffff {
		if intf, err := s.ng.Interface(s.iface); err == nil {
			s.ngLinks[s.iface] = linkType(intf.LinkType)
		}
	}
	return s.ngLinks[s.iface]
}

func (s *source) close() {
	if s == nil {
		return
	}
	// The readers hold the file's buffers (a MiB or more): let them go.
	s.r, s.ng, s.data = nil, nil, nil
	if s.ra != nil {
		s.ra.Close()
		s.ra = nil
	}
	if s.gz != nil {
		s.gz.Close()
		s.gz = nil
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// countingReader adds what it reads to n (atomically: with gzip, the file is read
// on the readahead goroutine).
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sourceHeap orders open sources by the time of their current record.
type sourceHeap []*source

func (h sourceHeap) Len() int           { return len(h) }
func (h sourceHeap) Less(i, j int) bool { return h[i].ts.Before(h[j].ts) }
func (h sourceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sourceHeap) Push(x any)        { *h = append(*h, x.(*source)) }
func (h *sourceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}
