package sipmon

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture"
)

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

// startProgress reports read (the capture reader's byte counts) and mon's
// message count on w until stop.
func startProgress(w io.Writer, read *capture.Progress, mon *Monitor) *progress {
	p := &progress{done: make(chan struct{})}
	tty := isTerminal(w)
	every := progressLogEvery
	if tty {
		every = progressTTYEvery
	}
	line := readProgress(read, mon, time.Now(), tty)
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
		p.draw(w, tty, tick.C, line)
	}()
	return p
}

// readProgress returns the progress line of a read started at start: the
// bytes read reports, the messages mon has counted.
func readProgress(read *capture.Progress, mon *Monitor, start time.Time, tty bool) func() string {
	return func() string {
		return progressLine(mon.Stats().SIPMessages, time.Since(start), read.Read(), read.Total(), tty)
	}
}

// draw writes line() at every tick until stop, then clears a bar it drew.
func (p *progress) draw(w io.Writer, tty bool, ticks <-chan time.Time, line func() string) {
	drawn := false
	for {
		select {
		case <-p.done:
			if drawn {
				fmt.Fprint(w, "\r\033[K")
			}
			return
		case <-ticks:
		}
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line())
			drawn = true
		} else {
			fmt.Fprintf(w, "sipmon read: %s\n", line())
		}
	}
}

// progressLine says how far a read is: bytes of the inputs read (as stored,
// from capture.Progress, when known), SIP messages so far and their rate; with
// a bar on a terminal.
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
