// Package realasterisk starts a private instance of the real Asterisk 22 for a
// test (issue 11): generated configuration in a temporary directory (AMI, ARI,
// FastAGI through the dialplan, two PJSIP endpoints that call each other over
// loopback), free loopback ports, and a stop that always runs.
//
// The binary is found through LICBRIDGE_ASTERISK or on PATH. When it is missing
// the test is skipped with a note on how to install it, except under CI=true,
// where a missing Asterisk is a failure (CI installs it with
// ../shared/asterisk/install.sh).
package realasterisk

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Credentials of the users the generated configuration creates.
const (
	// LicbridgeUser is the AMI and ARI user meant for licbridge.
	LicbridgeUser   = "licbridge"
	LicbridgeSecret = "licsecret"
	// adminUser is the test's own AMI user, with every class.
	adminUser   = "lbtest"
	adminSecret = "lbtestsecret"
)

// AdminUser and AdminSecret are the test's own AMI user (every class), for a
// test that drives a client of its own (the product's AMI client, say)
// against the real Asterisk.
const (
	AdminUser   = adminUser
	AdminSecret = adminSecret
)

// ReadmeManagerUser is the manager.conf section that README.md documents for
// licbridge (keep the two in step; cmd/licbridge's end-to-end test reads the
// README itself). CHANGE-ME is replaced by LicbridgeSecret.
const ReadmeManagerUser = `[licbridge]
secret = CHANGE-ME
read = call,system,dialplan
write = call,system,originate
permit = 127.0.0.1/255.255.255.255
`

// Options shape one instance's configuration.
type Options struct {
	// ManagerUser is the manager.conf section of the licbridge AMI user, as an
	// operator writes it; "CHANGE-ME" is replaced by LicbridgeSecret. Default
	// ReadmeManagerUser.
	ManagerUser string
	// Dialplan is included in extensions.conf as it is: for example the output
	// of `licbridge dialplan` plus contexts that call its routines.
	Dialplan string
	// HEPAddr, when set, makes res_hep send HEPv3 to HOST:PORT (UDP).
	HEPAddr string
	// ExtraModules are loaded besides the default set (res_tonedetect.so,
	// func_talkdetect.so, ...), for the tests that need them.
	ExtraModules []string
	// ExtraPJSIP is appended to pjsip.conf (an endpoint for SIPp, say).
	ExtraPJSIP string
	// ExtraFiles are more configuration files, name -> content
	// (pjsip_notify.conf for res_pjsip_notify.so, say).
	ExtraFiles map[string]string
}

// Asterisk is one private instance. Its configuration and ports survive Stop,
// so Start brings up a new Asterisk in the same place (a PBX restart).
type Asterisk struct {
	t   testing.TB
	bin string
	// Dir holds the configuration, logs and control socket.
	Dir string
	// AMIAddr and ARIURL are where licbridge connects (user LicbridgeUser).
	AMIAddr string
	ARIURL  string
	// SIPPorts are the two PJSIP transports (UDP, 127.0.0.1): endpoint
	// "alice" sends from the first, "bob" from the second; each calls the other.
	SIPPorts [2]int

	mu      sync.Mutex
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan struct{}
	admin   *amiConn
	started int
}

// Find returns the Asterisk binary, or skips (fails under CI=true) the test.
func Find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("LICBRIDGE_ASTERISK"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("realasterisk: LICBRIDGE_ASTERISK=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("asterisk"); err == nil {
		return p
	}
	const how = "asterisk not on PATH (nor LICBRIDGE_ASTERISK): install the test Asterisk 22 with ../shared/asterisk/install.sh (as root)"
	if os.Getenv("CI") == "true" {
		t.Fatal("realasterisk: " + how + "; under CI this is a failure")
	}
	t.Skip(how)
	return ""
}

// Start writes the configuration and starts Asterisk, waiting until AMI
// reports FullyBooted. It is stopped by t.Cleanup.
func Start(t testing.TB, opts Options) *Asterisk {
	t.Helper()
	bin := Find(t)
	// A short directory: the control socket's path must fit in sun_path.
	dir, err := os.MkdirTemp("", "ast")
	if err != nil {
		t.Fatalf("realasterisk: %v", err)
	}
	a := &Asterisk{t: t, bin: bin, Dir: dir}
	amiPort, httpPort := freeTCP(t), freeTCP(t)
	a.SIPPorts = [2]int{freeUDP(t), freeUDP(t)}
	a.AMIAddr = "127.0.0.1:" + strconv.Itoa(amiPort)
	a.ARIURL = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	if err := a.writeConfig(opts, amiPort, httpPort); err != nil {
		t.Fatalf("realasterisk: config: %v", err)
	}
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			t.Logf("asterisk output (last lines):\n%s", a.Output(60))
		}
		os.RemoveAll(dir)
	})
	a.Start()
	return a
}

// Start starts Asterisk again after Stop or Kill, on the same ports and
// configuration, and waits until it is fully booted.
func (a *Asterisk) Start() {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil {
		a.t.Fatal("realasterisk: Start while running")
	}
	a.out = &lockedBuffer{}
	cmd := exec.Command(a.bin, "-C", filepath.Join(a.Dir, "asterisk.conf"), "-f", "-n", "-g")
	cmd.Stdout, cmd.Stderr = a.out, a.out
	cmd.Dir = a.Dir
	// A test binary killed outright (timeout, ^C) must not leave Asterisk behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		a.t.Fatalf("realasterisk: start %s: %v", a.bin, err)
	}
	a.cmd, a.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(a.exited)
	a.started++
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	adm, err := a.waitBooted(ctx)
	if err != nil {
		a.t.Fatalf("realasterisk: start: %v\noutput:\n%s", err, a.out.tail(60))
	}
	a.admin = adm
}

// waitBooted logs in as the test's AMI user until it works and Asterisk says
// FullyBooted (sent to every session that logs in after the boot).
func (a *Asterisk) waitBooted(ctx context.Context) (*amiConn, error) {
	for {
		select {
		case <-a.exited:
			return nil, fmt.Errorf("asterisk exited while starting (%v)", a.cmd.ProcessState)
		default:
		}
		c, err := dialAMI(ctx, a.AMIAddr, adminUser, adminSecret)
		if err == nil {
			if _, err = c.waitEvent(ctx, "FullyBooted"); err == nil {
				return c, nil
			}
			c.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("not booted: %w (last: %v)", ctx.Err(), err)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-a.exited:
		}
	}
}

// Stop runs `core stop now` and kills Asterisk if it is still up 5 s later.
// Calls up at that moment end (Asterisk hangs them up as it stops).
func (a *Asterisk) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return
	}
	if a.admin != nil {
		a.admin.Close()
		a.admin = nil
	}
	select {
	case <-a.exited:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = exec.CommandContext(ctx, a.bin, "-C", filepath.Join(a.Dir, "asterisk.conf"), "-rx", "core stop now").Run()
		cancel()
		select {
		case <-a.exited:
		case <-time.After(5 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
	}
	a.cmd = nil
}

// Kill ends Asterisk with SIGKILL: no hangup events at all.
func (a *Asterisk) Kill() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return
	}
	if a.admin != nil {
		a.admin.Close()
		a.admin = nil
	}
	_ = a.cmd.Process.Kill()
	<-a.exited
	a.cmd = nil
}

// Problems are the WARNING and ERROR lines Asterisk has printed since it last
// started: with the generated configuration there are none at boot, so any
// line here was caused by the test's own configuration or calls.
func (a *Asterisk) Problems() []string {
	var out []string
	for _, l := range strings.Split(a.Output(1<<30), "\n") {
		if strings.Contains(l, "WARNING[") || strings.Contains(l, "ERROR[") {
			out = append(out, l)
		}
	}
	return out
}

// Output is the last n lines Asterisk printed (warnings and errors, console).
func (a *Asterisk) Output(n int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.out == nil {
		return ""
	}
	return a.out.tail(n)
}

func (a *Asterisk) ami() *amiConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.admin == nil {
		a.t.Fatal("realasterisk: Asterisk is not running")
	}
	return a.admin
}

// Action sends one AMI action as the test's admin user and returns the response.
func (a *Asterisk) Action(ctx context.Context, action Msg) (Msg, error) {
	return a.ami().Do(ctx, action)
}

// CLI runs a CLI command through AMI and returns its output.
func (a *Asterisk) CLI(ctx context.Context, command string) (string, error) {
	m, err := a.ami().Do(ctx, Msg{"Action": "Command", "Command": command})
	if err != nil {
		return "", err
	}
	if m["Response"] != "Success" {
		return "", fmt.Errorf("cli %q: %s", command, m["Message"])
	}
	return m["Output"], nil
}

func freeTCP(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("realasterisk: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDP(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("realasterisk: free port: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) tail(n int) string {
	lines := strings.Split(l.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
