// Package redistest starts real Redis servers for tests: a standalone
// redis-server, or a Redis Cluster of several masters, on free loopback ports
// with their files in t.TempDir(), stopped by t.Cleanup. Nothing is persisted,
// so a restarted server comes back empty. It also has a delaying TCP proxy for
// latency tests.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	tb   testing.TB
	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
}

func binary(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("redistest: %s is not installed (apt-get install redis-server): %v", name, err)
	}
	return p
}

// Start runs a standalone redis-server on a free loopback port.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, nil)
}

func start(tb testing.TB, extra []string) *Server {
	tb.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort(extra != nil)
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		dir := tb.TempDir()
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), tb: tb, dir: dir}
		s.args = append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--logfile", filepath.Join(dir, "redis.log"),
		}, extra...)
		if lastErr = s.Start(); lastErr == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// freePort finds a port that is free now; with bus, port+10000 too (the
// Cluster bus). Another process may take it before redis-server binds, so
// callers retry.
func freePort(bus bool) (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !bus {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port pair for a cluster node")
}

// Start (re)starts a stopped server on the same port, empty.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command(binary(s.tb, "redis-server"), s.args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(startTimeout)
	for {
		if err := ping(s.Addr); err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on %s exited: %v; log: %s", s.Addr, err, s.log())
		case <-time.After(20 * time.Millisecond): // polling for readiness, not synchronising
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v; log: %s", s.Addr, startTimeout, s.log())
		}
	}
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop kills the server (SIGKILL: nothing is saved) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Do sends one command (inline, space-separated words) and returns the reply line(s).
func (s *Server) Do(tb testing.TB, words ...string) string {
	tb.Helper()
	out, err := exec.Command(binary(tb, "redis-cli"), append([]string{"-h", "127.0.0.1", "-p", port(s.Addr)}, words...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli %v: %v: %s", words, err, out)
	}
	return strings.TrimSpace(string(out))
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// ping sends PING in RESP and expects +PONG (or a cluster-down error, which
// still proves the server is up).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// Cluster is a Redis Cluster of masters (no replicas).
type Cluster struct {
	Servers []*Server
}

// Addrs returns the masters' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		out[i] = s.Addr
	}
	return out
}

// StartCluster runs masters cluster-enabled redis-servers and joins them with
// redis-cli --cluster create, waiting until every node reports cluster_state:ok.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < 3 {
		tb.Fatalf("redistest: a Redis Cluster needs at least 3 masters, not %d", masters)
	}
	c := &Cluster{}
	for i := 0; i < masters; i++ {
		c.Servers = append(c.Servers, start(tb, []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
		}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary(tb, "redis-cli"), args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v: %s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.Servers {
		for {
			info := s.Do(tb, "cluster", "info")
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster node %s not ready: %s", s.Addr, info)
			}
			time.Sleep(50 * time.Millisecond) // polling for readiness
		}
	}
	return c
}

// Sentinel is a Redis Sentinel watching one master.
type Sentinel struct {
	// Addr is the Sentinel's address; Master the name it knows the master by.
	Addr, Master string
	// Server is the master it watches.
	Server *Server
}

// StartSentinel runs a master and one Sentinel watching it under the name
// "licbridge", and waits until the Sentinel reports the master.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	master := Start(tb)
	const name = "licbridge"
	for attempt := 0; attempt < 5; attempt++ {
		sport, err := freePort(false)
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		dir := tb.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		// Sentinel rewrites its config file, so it gets one of its own.
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor %s 127.0.0.1 %s 1\n"+
			"sentinel down-after-milliseconds %s 60000\n",
			sport, dir, filepath.Join(dir, "redis.log"), name, port(master.Addr), name)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sport)), tb: tb, dir: dir, args: []string{conf, "--sentinel"}}
		if err := s.Start(); err != nil {
			continue
		}
		tb.Cleanup(s.Stop)
		deadline := time.Now().Add(startTimeout)
		for !strings.Contains(s.Do(tb, "sentinel", "get-master-addr-by-name", name), port(master.Addr)) {
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: sentinel on %s does not report master %s", s.Addr, master.Addr)
			}
			time.Sleep(20 * time.Millisecond) // polling for readiness
		}
		return &Sentinel{Addr: s.Addr, Master: name, Server: master}
	}
	tb.Fatal("redistest: could not start a sentinel")
	return nil
}

// Restart kills the server and starts it again on the same port, empty (a
// cluster node keeps its nodes.conf, so it rejoins with its slots and no
// data). It returns the error of the start; safe from any goroutine.
func (s *Server) Restart() error {
	s.Stop()
	return s.Start()
}

// Running reports whether the server process is up (started and not stopped).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// DoContext is Do that returns its error instead of failing a test, for
// goroutines other than the test's own.
func (s *Server) DoContext(ctx context.Context, words ...string) (string, error) {
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		return "", fmt.Errorf("redistest: redis-cli is not installed: %w", err)
	}
	out, err := exec.CommandContext(ctx, bin, append([]string{"-h", "127.0.0.1", "-p", port(s.Addr)}, words...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("redistest: redis-cli %v on %s: %w: %s", words, s.Addr, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// WaitOK waits until every running master reports cluster_state:ok (after a
// restart a node takes a moment to rejoin and to be seen as up again).
func (c *Cluster) WaitOK(ctx context.Context) error {
	for _, s := range c.Servers {
		for {
			info, err := s.DoContext(ctx, "cluster", "info")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("redistest: cluster node %s not ok: %v %s: %w", s.Addr, err, info, ctx.Err())
			case <-time.After(50 * time.Millisecond): // polling for readiness
			}
		}
	}
	return nil
}
