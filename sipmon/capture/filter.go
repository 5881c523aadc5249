package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Filter selects packets by a subset of the pcap-filter language (tcpdump's),
// enough for SIP capture: "udp port 5060", "host 10.0.0.1 and not port 5080",
// "tcp dst portrange 5060-5069 or ip6", "net 192.0.2.0/24", "port 5060 or 5062".
//
// Primitives: the protocols ip, ip6, udp, tcp alone; [udp|tcp] [src|dst] port N;
// [udp|tcp] [src|dst] portrange N-M; [ip|ip6] [src|dst] host ADDR (or just
// [src|dst] ADDR); [src|dst] net PREFIX. They combine with and/&&, or/||, not/!
// and parentheses; a bare value repeats the previous primitive's qualifiers, as in
// tcpdump. It is applied in user space to UDP and TCP packets, after IP
// reassembly, so that a filter on ports also keeps every fragment of a matching
// datagram (unlike a kernel filter).
type Filter struct {
	expr string
	root filterNode
}

// ParseFilter compiles a filter expression. An empty expression gives a nil
// Filter, which matches everything.
func ParseFilter(expr string) (*Filter, error) {
	toks := tokenize(expr)
	if len(toks) == 0 {
		return nil, nil
	}
	p := &filterParser{toks: toks}
	root, err := p.or()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", expr, err)
	}
	return &Filter{expr: expr, root: root}, nil
}

// String returns the expression the filter was compiled from.
func (f *Filter) String() string { return f.expr }

// match reports whether a UDP or TCP packet passes (a nil filter passes all).
func (f *Filter) match(p *filterPacket) bool { return f == nil || f.root.match(p) }

// filterPacket is what a filter can see of a packet.
type filterPacket struct {
	proto            uint8
	src, dst         netip.Addr
	srcPort, dstPort uint16
}

type filterNode interface{ match(*filterPacket) bool }

type (
	andNode   struct{ a, b filterNode }
	orNode    struct{ a, b filterNode }
	notNode   struct{ a filterNode }
	protoNode struct {
		proto uint8 // ipProtoUDP, ipProtoTCP, or 0
		ipv   int   // 4, 6, or 0
	}
	hostNode struct {
		dir    filterDir
		prefix netip.Prefix
		ipv    int
	}
	portNode struct {
		dir    filterDir
		proto  uint8 // 0: UDP or TCP
		lo, hi uint16
	}
)

type filterDir uint8

const (
	dirAny filterDir = iota
	dirSrc
	dirDst
)

func (n andNode) match(p *filterPacket) bool { return n.a.match(p) && n.b.match(p) }
func (n orNode) match(p *filterPacket) bool  { return n.a.match(p) || n.b.match(p) }
func (n notNode) match(p *filterPacket) bool { return !n.a.match(p) }

func (n protoNode) match(p *filterPacket) bool {
	if n.proto != 0 && p.proto != n.proto {
		return false
	}
	return n.ipv == 0 || n.ipv == ipVersion(p.src)
}

func (n hostNode) match(p *filterPacket) bool {
	if n.ipv != 0 && n.ipv != ipVersion(p.src) {
		return false
	}
	switch n.dir {
	case dirSrc:
		return n.prefix.Contains(p.src)
	case dirDst:
		return n.prefix.Contains(p.dst)
	}
	return n.prefix.Contains(p.src) || n.prefix.Contains(p.dst)
}

func (n portNode) match(p *filterPacket) bool {
	if n.proto != 0 && p.proto != n.proto {
		return false
	}
	in := func(port uint16) bool { return port >= n.lo && port <= n.hi }
	switch n.dir {
	case dirSrc:
		return in(p.srcPort)
	case dirDst:
		return in(p.dstPort)
	}
	return in(p.srcPort) || in(p.dstPort)
}

func ipVersion(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// tokenize splits on spaces and around ( ) ! && ||.
func tokenize(s string) []string {
	for _, op := range []string{"&&", "||", "(", ")", "!"} {
		s = strings.ReplaceAll(s, op, " "+op+" ")
	}
	return strings.Fields(s)
}

type filterParser struct {
	toks []string
	pos  int
	last *primitive // qualifiers a bare value repeats
}

// primitive is a parsed primitive before it becomes a node.
type primitive struct {
	proto string // "", "udp", "tcp", "ip", "ip6"
	dir   filterDir
	kind  string // "host", "net", "port", "portrange"
}

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *filterParser) or() (filterNode, error) {
	n, err := p.and()
	for err == nil && (p.peek() == "or" || p.peek() == "||") {
		p.pos++
		var m filterNode
		if m, err = p.and(); err == nil {
			n = orNode{n, m}
		}
	}
	return n, err
}

func (p *filterParser) and() (filterNode, error) {
	n, err := p.unary()
	for err == nil && (p.peek() == "and" || p.peek() == "&&") {
		p.pos++
		var m filterNode
		if m, err = p.unary(); err == nil {
			n = andNode{n, m}
		}
	}
	return n, err
}

func (p *filterParser) unary() (filterNode, error) {
	switch p.peek() {
	case "not", "!":
		p.pos++
		n, err := p.unary()
		return notNode{n}, err
	case "(":
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return n, nil
	case "":
		return nil, fmt.Errorf("expression ends too soon")
	}
	return p.primitive()
}

func (p *filterParser) primitive() (filterNode, error) {
	var q primitive
	start := p.pos
	if t := p.peek(); t == "udp" || t == "tcp" || t == "ip" || t == "ip6" {
		q.proto = t
		p.pos++
	}
	switch p.peek() {
	case "src":
		q.dir = dirSrc
		p.pos++
	case "dst":
		q.dir = dirDst
		p.pos++
	}
	switch t := p.peek(); t {
	case "host", "net", "port", "portrange":
		q.kind = t
		p.pos++
	}
	if q.kind == "" {
		v := p.peek()
		switch {
		case p.pos == start && p.last != nil && isValue(v):
			q = *p.last // "port 5060 or 5062": the previous qualifiers again
		case q.proto != "" && q.dir == dirAny && !isValue(v):
			return protoNode{proto: protoNumber(q.proto), ipv: ipvOf(q.proto)}, nil // "udp", "ip6"
		case isAddr(v):
			q.kind = "host" // "src 10.0.0.1"
		default:
			return nil, fmt.Errorf("unknown primitive %q", strings.Join(p.toks[start:min(p.pos+1, len(p.toks))], " "))
		}
	}
	v := p.peek()
	if v == "" {
		return nil, fmt.Errorf("%s needs a value", q.kind)
	}
	p.pos++
	last := q
	p.last = &last
	switch q.kind {
	case "host", "net":
		if q.proto == "udp" || q.proto == "tcp" {
			return nil, fmt.Errorf("%s %s: only ip or ip6 may qualify a %s", q.proto, q.kind, q.kind)
		}
		var pfx netip.Prefix
		var err error
		if q.kind == "net" && strings.Contains(v, "/") {
			pfx, err = netip.ParsePrefix(v)
			pfx = pfx.Masked()
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(v); err == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s %q: not an address", q.kind, v)
		}
		return hostNode{dir: q.dir, prefix: pfx, ipv: ipvOf(q.proto)}, nil
	default: // port, portrange
		if q.proto == "ip" || q.proto == "ip6" {
			return nil, fmt.Errorf("%s %s: only udp or tcp may qualify a port", q.proto, q.kind)
		}
		lo, hi, err := parsePorts(v, q.kind == "portrange")
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", q.kind, v, err)
		}
		return portNode{dir: q.dir, proto: protoNumber(q.proto), lo: lo, hi: hi}, nil
	}
}

func isValue(s string) bool {
	if s == "" {
		return false
	}
	return isAddr(s) || (s[0] >= '0' && s[0] <= '9')
}

func isAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	if err != nil {
		_, err = netip.ParsePrefix(s)
	}
	return err == nil
}

func protoNumber(p string) uint8 {
	switch p {
	case "udp":
		return ipProtoUDP
	case "tcp":
		return ipProtoTCP
	}
	return 0
}

func ipvOf(p string) int {
	switch p {
	case "ip":
		return 4
	case "ip6":
		return 6
	}
	return 0
}

func parsePorts(v string, isRange bool) (lo, hi uint16, err error) {
	a, b := v, v
	if isRange {
		var ok bool
		if a, b, ok = strings.Cut(v, "-"); !ok {
			return 0, 0, fmt.Errorf("want N-M")
		}
	}
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || x > y {
		return 0, 0, fmt.Errorf("not a port number or range")
	}
	return uint16(x), uint16(y), nil
}
