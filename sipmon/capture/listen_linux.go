//go:build linux

package capture

import (
	"fmt"
	"net"
	"syscall"
)

// grantedReadBuffer reads SO_RCVBUF back; when the kernel capped the request at
// net.core.rmem_max it tries, with force, SO_RCVBUFFORCE (allowed with
// CAP_NET_ADMIN only) before giving up. Linux reports twice the size granted; this returns half.
func grantedReadBuffer(uc *net.UDPConn, asked int, force bool) (int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("reading SO_RCVBUF: %w", err)
	}
	var got int
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		got, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		if serr != nil || got/2 >= asked || !force {
			return
		}
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, asked) == nil {
			got, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		}
	})
	if cerr != nil {
		return 0, fmt.Errorf("reading SO_RCVBUF: %w", cerr)
	}
	if serr != nil {
		return 0, fmt.Errorf("reading SO_RCVBUF: %w", serr)
	}
	return got / 2, nil
}
