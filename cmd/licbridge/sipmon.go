package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/sipmon"
	"github.com/licbridge/licbridge/sipmon/capture"
)

func sipmonCommand() *cli.Command {
	return &cli.Command{
		Name:  "sipmon",
		Usage: "SIP side monitor: count the call legs on the wire",
		Subcommands: []*cli.Command{
			sipmonReadCommand(),
			sipmonHEPCommand(),
			sipmonLiveCommand(),
		},
	}
}

// sipmonTrackingFlags tune leg tracking; every sipmon subcommand takes them.
func sipmonTrackingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "correlation-header", Usage: "header whose value in an initial INVITE names the Call-ID of another leg of the same call (e.g. X-CID); off when empty", EnvVars: []string{"LICBRIDGE_SIPMON_CORRELATION_HEADER"}},
		&cli.DurationFlag{Name: "dialog-timeout", Value: sipmon.DefaultDialogTimeout, Usage: "close a dialog silent for this long (capture time)", EnvVars: []string{"LICBRIDGE_SIPMON_DIALOG_TIMEOUT"}},
		&cli.IntFlag{Name: "max-dialogs", Value: sipmon.DefaultMaxDialogs, Usage: "cap on open dialogs per sensor; the stalest is evicted beyond it", EnvVars: []string{"LICBRIDGE_SIPMON_MAX_DIALOGS"}},
		&cli.DurationFlag{Name: "sensor-tolerance", Value: sipmon.DefaultSensorTolerance, Usage: "how far apart two sensors' records of one call may be", EnvVars: []string{"LICBRIDGE_SIPMON_SENSOR_TOLERANCE"}},
	}
}

func sipmonConfig(c *cli.Context) (sipmon.Config, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return sipmon.Config{}, err
	}
	overrideString(c, "correlation-header", &cfg.SIPMon.CorrelationHeader)
	if c.Duration("dialog-timeout") <= 0 {
		return sipmon.Config{}, fmt.Errorf("--dialog-timeout %v: must be positive", c.Duration("dialog-timeout"))
	}
	if c.Int("max-dialogs") <= 0 {
		return sipmon.Config{}, fmt.Errorf("--max-dialogs %d: must be positive", c.Int("max-dialogs"))
	}
	return sipmon.Config{
		CorrelationHeader: cfg.SIPMon.CorrelationHeader,
		DialogTimeout:     c.Duration("dialog-timeout"),
		MaxDialogs:        c.Int("max-dialogs"),
		SensorTolerance:   c.Duration("sensor-tolerance"),
		Logger:            slog.Default(),
	}, nil
}

func sipmonReadCommand() *cli.Command {
	return &cli.Command{
		Name:      "read",
		Usage:     "read pcap/pcapng captures (gzip too) or directories of them and report the legs",
		ArgsUsage: "[SENSOR=]PATH...",
		Description: "Each PATH is a capture file or a directory of captures (read in time order). " +
			"Name the sensor that recorded it with SENSOR=PATH: the same call seen by two sensors counts once. " +
			"Paths without a name are one sensor.",
		Flags: append(sipmonTrackingFlags(),
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.Exit("licbridge sipmon read: give at least one [SENSOR=]PATH", 2)
			}
			cfg, err := sipmonConfig(c)
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			inputs := make([]capture.Input, 0, c.NArg())
			for _, a := range c.Args().Slice() {
				in := capture.ParseInput(a)
				if _, err := os.Stat(in.Path); err != nil {
					return cli.Exit(fmt.Sprintf("licbridge sipmon read: %s: %v", in.Path, err), 2)
				}
				inputs = append(inputs, in)
			}
			return sipmonRead(c.Context, c.App.Writer, c.App.ErrWriter, cfg, inputs, c.Bool("json"))
		},
	}
}

// sipmonRead reads inputs and prints the report to out, progress to errOut.
func sipmonRead(ctx context.Context, out, errOut io.Writer, cfg sipmon.Config, inputs []capture.Input, asJSON bool) error {
	mon := sipmon.New(cfg)
	prog := startProgress(errOut, inputsSize(inputs), mon)
	_, readErr := capture.ReadPaths(ctx, inputs, mon.Handle)
	prog.stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	mon.Flush()
	r := mon.Report()
	var err error
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = r.WriteText(out)
	}
	if err != nil {
		return fmt.Errorf("sipmon read: writing report: %w", err)
	}
	if readErr != nil {
		// The unreadable inputs are named in readErr; the others were counted.
		return fmt.Errorf("sipmon read: %w", readErr)
	}
	return nil
}

func inputsSize(inputs []capture.Input) int64 {
	var total int64
	for _, in := range inputs {
		_ = filepath.WalkDir(in.Path, func(_ string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
				total += info.Size()
			}
			return nil
		})
	}
	return total
}

// progress shows how a long read goes: a bar redrawn in place when stderr is a
// terminal, a plain line every 5 s otherwise, nothing for a read shorter than that.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

const (
	progressDelay    = time.Second // a terminal read shorter than this shows nothing
	progressTTYEvery = 200 * time.Millisecond
	progressLogEvery = 5 * time.Second // plain lines, for logs
)

func startProgress(w io.Writer, total int64, mon *sipmon.Monitor) *progress {
	p := &progress{done: make(chan struct{})}
	tty := isTerminal(w)
	every := progressLogEvery
	if tty {
		every = progressTTYEvery
	}
	start := time.Now()
	base := readBytes()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if tty {
			select {
			case <-p.done:
				return
			case <-time.After(progressDelay):
			}
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		drawn := false
		for {
			select {
			case <-p.done:
				if drawn {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-tick.C:
			}
			line := progressLine(mon.Stats().SIPMessages, time.Since(start), readBytes()-base, total, tty)
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
				drawn = true
			} else {
				fmt.Fprintf(w, "sipmon read: %s\n", line)
			}
		}
	}()
	return p
}

// progressLine says how far a read is: bytes of the inputs read (when known),
// SIP messages so far and their rate; with a bar on a terminal.
func progressLine(msgs int64, elapsed time.Duration, read, total int64, tty bool) string {
	rate := float64(msgs) / max(elapsed.Seconds(), 1e-3)
	line := fmt.Sprintf("%s SIP messages, %s msg/s, %s", humanCount(msgs), humanCount(int64(rate)), elapsed.Truncate(time.Second))
	if read > 0 && total > 0 {
		read = min(read, total)
		line = fmt.Sprintf("%s / %s  %s", humanBytes(read), humanBytes(total), line)
		if tty {
			line = bar(float64(read)/float64(total)) + " " + line
		}
	}
	return line
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}

// readBytes is the bytes this process has read so far, from /proc/self/io
// ("rchar"): the capture reader has no progress hook, and nearly all this process
// reads is its inputs. 0 where /proc is not available (then no byte progress).
func readBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("rchar: ")); ok {
			n, _ := strconv.ParseInt(string(v), 10, 64)
			return n
		}
	}
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func bar(frac float64) string {
	const width = 30
	n := int(frac * width)
	n = max(0, min(n, width))
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", n), strings.Repeat(".", width-n), int(frac*100))
}

func humanCount(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// liveFlags are shared by the continuously running subcommands.
func sipmonLiveFlags() []cli.Flag {
	return append(sipmonTrackingFlags(),
		&cli.DurationFlag{Name: "interval", Value: 10 * time.Second, Usage: "how often to print and publish the counts", EnvVars: []string{"LICBRIDGE_SIPMON_INTERVAL"}},
		&cli.StringFlag{Name: "redis", Usage: "shared store to publish the observed counts to (not wired yet: counts are logged)", EnvVars: []string{"LICBRIDGE_REDIS"}},
		&cli.BoolFlag{Name: "json", Usage: "print the final report as JSON when stopped"},
	)
}

func sipmonHEPCommand() *cli.Command {
	return &cli.Command{
		Name:  "hep",
		Usage: "receive HEPv3 (Asterisk res_hep, Kamailio siptrace, heplify) and count the legs",
		Flags: append(sipmonLiveFlags(),
			&cli.StringFlag{Name: "listen", Value: capture.DefaultHEPAddr, Usage: "address to receive HEP on (loopback by default)", EnvVars: []string{"LICBRIDGE_SIPMON_HEP_LISTEN"}},
			&cli.StringSliceFlag{Name: "network", Value: cli.NewStringSlice("udp", "tcp"), Usage: "udp, tcp or both"},
			&cli.StringFlag{Name: "sensor", Usage: "name of this sensor"},
		),
		Action: func(c *cli.Context) error {
			cfg, err := sipmonConfig(c)
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			mon, opt := liveMonitor(c, cfg)
			var servers []*capture.HEPServer
			for _, network := range c.StringSlice("network") {
				s, err := capture.NewHEPServer(network, c.String("listen"), c.String("sensor"), mon.Handle, capture.HEPOptions{Logger: slog.Default()})
				if err != nil {
					return fmt.Errorf("sipmon hep: %w", err)
				}
				slog.Info("receiving HEP", "network", network, "addr", s.Addr().String())
				servers = append(servers, s)
			}
			return runLive(c, mon, opt, func(ctx context.Context) error {
				errs := make(chan error, len(servers))
				for _, s := range servers {
					go func() { errs <- s.Run(ctx) }()
				}
				var all []error
				for range servers {
					all = append(all, <-errs)
				}
				return errors.Join(all...)
			})
		},
	}
}

func sipmonLiveCommand() *cli.Command {
	return &cli.Command{
		Name:  "live",
		Usage: "capture SIP from a network interface and count the legs",
		Flags: append(sipmonLiveFlags(),
			&cli.StringFlag{Name: "interface", Aliases: []string{"i"}, Required: true, Usage: "interface to capture on (\"any\" for all)"},
			&cli.StringFlag{Name: "filter", Usage: "kernel capture filter (pcap-filter expression, e.g. \"port 5060\"); empty: everything"},
			&cli.StringFlag{Name: "sensor", Usage: "name of this sensor"},
		),
		Action: func(c *cli.Context) error {
			cfg, err := sipmonConfig(c)
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			mon, opt := liveMonitor(c, cfg)
			// Open first: a missing interface or permission is reported at once, and
			// from here on packets are being captured.
			live, err := capture.NewLive(c.String("interface"), c.String("filter"), c.String("sensor"), mon.Handle, capture.LiveOptions{})
			if err != nil {
				return fmt.Errorf("sipmon live: %w", err)
			}
			slog.Info("capturing", "interface", c.String("interface"))
			return runLive(c, mon, opt, live.Run)
		},
	}
}

// logPublisher stands in for the bridge store until it is wired: it logs.
type logPublisher struct{ log *slog.Logger }

func (p logPublisher) PublishObserved(_ context.Context, product string, legs int) error {
	p.log.Debug("observed legs", "product", product, "legs", legs)
	return nil
}

var _ sipmon.Publisher = logPublisher{}

func liveMonitor(c *cli.Context, cfg sipmon.Config) (*sipmon.Monitor, sipmon.RunOptions) {
	// A live monitor keeps finished legs for two windows, enough for the hourly
	// peaks it prints, and no more.
	cfg.Retain = 2 * time.Hour
	mon := sipmon.New(cfg)
	if c.String("redis") != "" {
		slog.Warn("sipmon: --redis is not wired to the store yet; observed counts are only logged")
	}
	out := c.App.Writer
	return mon, sipmon.RunOptions{
		Publisher: logPublisher{log: slog.Default().With("component", "sipmon")},
		Interval:  c.Duration("interval"),
		OnTick: func(a sipmon.Active, s sipmon.Stats) {
			fmt.Fprintf(out, "%s  legs up %d  g729 %d  fax %d  SIP messages %d  malformed %d\n",
				time.Now().UTC().Format(time.RFC3339), a.Legs, a.G729, a.Fax, s.SIPMessages, s.Malformed)
		},
	}
}

// runLive runs the capture and the monitor's ticker until the context ends, then
// prints the report of what was seen.
func runLive(c *cli.Context, mon *sipmon.Monitor, opt sipmon.RunOptions, capture func(context.Context) error) error {
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = mon.Run(ctx, opt)
	}()
	err := capture(ctx)
	cancel()
	<-runDone
	mon.Flush()
	r := mon.Report()
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	} else {
		_ = r.WriteText(c.App.Writer)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("sipmon: %w", err)
	}
	return nil
}
