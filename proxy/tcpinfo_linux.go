package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// tcpBytes reads how many bytes the kernel sent (and had acknowledged) and
// received on c. Tunnels copy with splice, so their bytes never pass
// through user space to be counted; the kernel counts them anyway.
func tcpBytes(c *net.TCPConn) (sent, received uint64, ok bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var info *unix.TCPInfo
	cerr := raw.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if cerr != nil || err != nil || info == nil {
		return 0, 0, false
	}
	return info.Bytes_acked, info.Bytes_received, true
}
