package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/view"
)

// daemonAskTimeout bounds asking a local daemon for its view: it answers from
// memory and its store in well under a second.
const daemonAskTimeout = 5 * time.Second

// maxViewBytes bounds a daemon's answer (a view is a few KB per product).
const maxViewBytes = 8 << 20

// DaemonView asks the daemon whose state dir is stateDir for its view,
// through the admin address it records there (admin.AddrFileName). The
// error says plainly why there is none (no daemon runs, it does not answer,
// it refuses the token).
func DaemonView(ctx context.Context, stateDir, token string) (view.View, error) {
	base, err := admin.ReadAddrFile(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return view.View{}, fmt.Errorf("no licbridge daemon runs with state dir %s (it records its admin address there)", stateDir)
	}
	if err != nil {
		return view.View{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, daemonAskTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/view", nil)
	if err != nil {
		return view.View{}, fmt.Errorf("daemon at %s: %w", base, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return view.View{}, fmt.Errorf("the licbridge daemon recorded in %s does not answer at %s (stopped?)", stateDir, base)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxViewBytes))
	if err != nil {
		return view.View{}, fmt.Errorf("daemon at %s: reading its view: %w", base, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return view.View{}, fmt.Errorf("the daemon at %s wants its admin token (http.token in the config)", base)
	case resp.StatusCode != http.StatusOK:
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		return view.View{}, fmt.Errorf("the daemon at %s answers %s: %s", base, resp.Status, e.Error)
	}
	var v view.View
	if err := json.Unmarshal(body, &v); err != nil {
		return view.View{}, fmt.Errorf("daemon at %s: its view: %w", base, err)
	}
	v.Usage = true
	v.From = "daemon at " + base
	return v, nil
}
