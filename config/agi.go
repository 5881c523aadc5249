package config

import "net"

// DialAddr is the address Asterisk should dial for the FastAGI listener (the
// dialplan's AGI() URLs): a wildcard host (0.0.0.0, ::, empty) becomes
// 127.0.0.1, since Asterisk runs beside licbridge. A listen address that does
// not parse is returned as it is, for the dialplan generator to report.
func (a AGIConfig) DialAddr() string {
	if a.Listen == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return a.Listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
