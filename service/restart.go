package service

import (
	"fmt"

	"github.com/signpost-gateway/signpost/config"
)

// startOnly names the settings a node reads once, at start, whose value in
// next differs from the one it started with: a reload cannot apply them.
// Settings given on the command line (listen addresses, data directory,
// store) are compared as in force, so a changed file value that a flag
// overrides is not one.
func (n *Node) startOnly(next *config.Config) []string {
	start := n.cfg
	var names []string
	differ := func(name string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			names = append(names, name)
		}
	}
	o := n.opts
	differ("proxy.listen", firstNonEmpty(o.Listen, start.Proxy.Listen), firstNonEmpty(o.Listen, next.Proxy.Listen))
	differ("proxy.admin_listen", firstNonEmpty(o.AdminListen, start.Proxy.AdminListen), firstNonEmpty(o.AdminListen, next.Proxy.AdminListen))
	differ("proxy.data_dir", firstNonEmpty(o.DataDir, start.Proxy.DataDir), firstNonEmpty(o.DataDir, next.Proxy.DataDir))
	differ("proxy.parent_proxy", start.Proxy.Parent, next.Proxy.Parent)
	differ("proxy.ca_cert", start.Proxy.CACert, next.Proxy.CACert)
	differ("proxy.ca_key", start.Proxy.CAKey, next.Proxy.CAKey)
	differ("proxy.read_header_timeout", start.Proxy.ReadHeaderTimeout, next.Proxy.ReadHeaderTimeout)
	differ("proxy.idle_timeout", start.Proxy.IdleTimeout, next.Proxy.IdleTimeout)
	differ("proxy.dial_timeout", start.Proxy.DialTimeout, next.Proxy.DialTimeout)
	differ("proxy.response_header_timeout", start.Proxy.ResponseHeaderTimeout, next.Proxy.ResponseHeaderTimeout)
	differ("proxy.max_header_bytes", start.Proxy.MaxHeaderBytes, next.Proxy.MaxHeaderBytes)
	differ("store.dsn", firstNonEmpty(o.Store, start.Store.DSN), firstNonEmpty(o.Store, next.Store.DSN))
	differ("requests.form_key_file", start.Requests.FormKeyFile, next.Requests.FormKeyFile)
	differ("admin.session_key_file", start.Admin.SessionKeyFile, next.Admin.SessionKeyFile)
	differ("admin.metrics_open", start.Admin.MetricsOpen, next.Admin.MetricsOpen)
	differ("admin.url", start.Admin.URL, next.Admin.URL)
	return names
}
