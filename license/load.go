package license

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Dir is a license directory to load.
type Dir struct {
	Path string
	// Optional: a missing directory is not a problem (the defaults are optional).
	Optional bool
}

// The default license directories, searched first and in this order.
const (
	DefaultDirAsterisk = "/var/lib/asterisk/licenses"
	DefaultDirDigium   = "/var/lib/digium/licenses"
)

// FileSuffix is the name ending of key files; other files in a license directory
// are left alone (Asterisk's own license files may live there too).
const FileSuffix = ".lic"

// SearchPath returns the default directories (optional) followed by extra ones
// (required, so that a typo in a flag is reported).
func SearchPath(extra ...string) []Dir {
	dirs := []Dir{{Path: DefaultDirAsterisk, Optional: true}, {Path: DefaultDirDigium, Optional: true}}
	for _, d := range extra {
		dirs = append(dirs, Dir{Path: d})
	}
	return dirs
}

// LoadOptions say where the key files are and what the node's facts are.
type LoadOptions struct {
	// Dirs are searched in order; a directory listed twice is read once.
	Dirs []Dir
	// Trusted issuer public keys.
	Trusted Trusted
	// HostID of this node ("" when it has none).
	HostID HostID
	// Domain of this node ("" for none).
	Domain string
	// Catalog of products. Nil: the built-in catalog.
	Catalog *Catalog
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// RenewalGrace for auto-renew keys. Zero: DefaultRenewalGrace.
	RenewalGrace time.Duration
	// WarnAhead thresholds. Nil: DefaultWarnAhead.
	WarnAhead []time.Duration

	// sigs, set by a Watcher, skips verifying again what the last load verified.
	sigs *sigCache
}

func (o LoadOptions) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Load reads every key file (*.lic) in the directories and evaluates them. A file
// that cannot be read or parsed is an invalid entry, and a directory that is
// missing or unreadable is a problem of the Set: neither stops the others. The
// error is non-nil only when ctx ends first.
func Load(ctx context.Context, opts LoadOptions) (*Set, error) {
	if opts.sigs != nil {
		opts.sigs.begin()
	}
	files, problems := listFiles(opts.Dirs)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("license: load: %w", err)
	}
	cands := make([]Candidate, len(files))
	parallel(len(files), func(i int) {
		if ctx.Err() != nil {
			return
		}
		cands[i] = readCandidate(files[i])
	})
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("license: load: %w", err)
	}
	s := Evaluate(cands, EvalOptions{
		Trusted: opts.Trusted,
		HostID:  opts.HostID,
		Domain:  opts.Domain,
		Catalog: opts.Catalog,
		Policy:  Policy{RenewalGrace: opts.RenewalGrace, WarnAhead: opts.WarnAhead},
		Now:     opts.now(),
		sigs:    opts.sigs,
	})
	s.problems = problems
	return s, nil
}

// ReadFile parses the key file at path.
func ReadFile(path string) (*Key, error) {
	c := readCandidate(path)
	return c.Key, c.Err
}

// EvaluateFile reads the key file at path and evaluates it alone (license
// verify: stacking and superseding are for a whole set).
func EvaluateFile(path string, opts EvalOptions) Entry {
	return Evaluate([]Candidate{readCandidate(path)}, opts).Keys()[0]
}

func readCandidate(path string) Candidate {
	f, err := openRegular(path)
	if err != nil {
		return Candidate{File: path, Err: err}
	}
	defer f.Close()
	// Parse reads at most MaxFileSize+1 bytes, so a huge file costs little.
	k, err := Parse(f, path)
	return Candidate{File: path, Key: k, Err: err}
}

// openRegular opens path for reading only if it is a regular file (a symlink is
// followed). A named pipe, device or socket named *.lic would block the open or
// the read (and with it every reload) or read forever, so it is refused: stat
// first, so that a device is never opened, then open non-blocking, so that a
// pipe put there after the stat cannot block, and check the opened file again.
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileKind(st.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	st, err = f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%w (%s)", ErrNotRegular, fileKind(st.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	return f, nil
}

// ErrNotRegular is the reason a named pipe, device, socket or directory named
// like a key file is not read.
var ErrNotRegular = errors.New("not a regular file")

// fileKind names a file type for a problem report.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m.IsDir():
		return "directory"
	default:
		return "type " + m.Type().String()
	}
}

// unwrapPath drops the path from an *fs.PathError, which the caller names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// listFiles returns the key files of dirs in order, and the problems: missing or
// unreadable directories, and *.lic names that are not regular files (skipped).
func listFiles(dirs []Dir) (files, problems []string) {
	seen := map[string]bool{}
	for _, d := range dirs {
		p := filepath.Clean(d.Path)
		if seen[p] {
			continue
		}
		seen[p] = true
		entries, err := os.ReadDir(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && d.Optional {
				continue
			}
			problems = append(problems, fmt.Sprintf("licenses directory %s: %v", p, unwrapPath(err)))
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, FileSuffix) || strings.HasPrefix(name, ".") {
				continue
			}
			full := filepath.Join(p, name)
			// Follow symlinks; directories named *.lic are not key files. A
			// pipe, device or socket is skipped and reported: reading one could
			// block every reload. A dangling symlink is left to readCandidate,
			// which reports it as an invalid entry.
			if st, err := os.Stat(full); err == nil && !st.Mode().IsRegular() {
				if !st.IsDir() {
					problems = append(problems, fmt.Sprintf("license file %s: %v (%s): skipped", full, ErrNotRegular, fileKind(st.Mode())))
				}
				continue
			}
			files = append(files, full)
		}
	}
	return files, problems
}
