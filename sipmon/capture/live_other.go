//go:build !linux

package capture

import "errors"

func openLive(string) (liveSource, linkType, error) {
	return nil, 0, errors.New("live capture is only implemented on Linux (AF_PACKET)")
}
