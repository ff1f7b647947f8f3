//go:build !linux

package proxy

import "net"

// tcpBytes is not available on this platform; tunnel byte counts stay zero.
func tcpBytes(*net.TCPConn) (sent, received uint64, ok bool) { return 0, 0, false }
