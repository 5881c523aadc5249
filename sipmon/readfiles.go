package sipmon

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// ReadInputs parses [SENSOR=]PATH arguments into capture inputs, refusing a
// path that is not a regular file or a directory: a named pipe or device would
// block the read where neither the context nor SIGTERM reaches it.
func ReadInputs(args []string) ([]capture.Input, error) {
	inputs := make([]capture.Input, 0, len(args))
	for _, a := range args {
		in := capture.ParseInput(a)
		fi, err := os.Stat(in.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", in.Path, err)
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file or directory (%s)", in.Path, fi.Mode().Type())
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

// ReadCaptures reads inputs (capture files and directories) through a monitor
// built from cfg and prints its report to out (text, or JSON with asJSON),
// and how the read goes to progressOut (licbridge sipmon read). An input that
// cannot be read is named in the error; the others are counted and reported.
func ReadCaptures(ctx context.Context, out, progressOut io.Writer, cfg Config, inputs []capture.Input, asJSON bool) error {
	// Legs go out as they become final (JSON) or are only counted (text), so
	// memory holds the legs up at once, not every leg read.
	var js *JSONStream
	cfg.LegSink = func(LegRecord) {}
	if asJSON {
		js = NewJSONStream(out)
		cfg.LegSink = js.Leg
	}
	mon := New(cfg)
	read := &capture.Progress{}
	prog := startProgress(progressOut, read, mon)
	_, readErr := capture.ReadPaths(ctx, inputs, mon.Handle, capture.ReadOptions{Progress: read})
	prog.stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	mon.Flush()
	r := mon.Report()
	var err error
	if asJSON {
		err = js.Finish(r)
	} else {
		err = r.WriteText(out)
	}
	if err != nil {
		return fmt.Errorf("sipmon read: writing report: %w", err)
	}
	if readErr != nil {
		return fmt.Errorf("sipmon read: %w", readErr)
	}
	return nil
}
