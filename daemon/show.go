package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
)

// LicensesView is what `licbridge show licenses` prints: this host's key
// files, loaded with nl (this command's own reading of them), in the
// cluster's view read from the shared store when cfg names one (ClusterView),
// else in the view of the daemon running with cfg's state dir (DaemonView),
// else alone, with a note that says why no daemon answered.
func LicensesView(ctx context.Context, cfg *config.Config, nl Licenses, log *slog.Logger) (view.View, error) {
	set, err := license.Load(ctx, nl.Options)
	if err != nil {
		return view.View{}, err
	}
	var v view.View
	if cfg.Store.Redis != "" {
		s, err := cfg.Validate()
		if err != nil {
			return view.View{}, err
		}
		if v, err = ClusterView(ctx, s, log); err != nil {
			return view.View{}, fmt.Errorf("cluster: %w", err)
		}
		v.From = "shared store " + redisstore.Redact(cfg.Store.Redis)
	} else {
		stateDir := cfg.StateDir
		if stateDir == "" {
			stateDir = config.DefaultStateDir
		}
		if v, err = DaemonView(ctx, stateDir, cfg.HTTP.Token); err != nil {
			v = view.FromSet(set, nl.HostIDNote)
			v.Note = err.Error()
			return v, nil
		}
	}
	v.AddKeyFiles(set, func(p string) view.Mode { return view.Mode(cfg.Enforcement[p]) })
	v.HostIDNote = nl.HostIDNote
	return v, nil
}
