package proxy

import (
	"sync"

	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/pac"
)

// pacFiles caches a ruleset's PAC files. With proxies configured there is
// one file; without, the file names the address the browser fetched it
// from, so there is one per such address (bounded: past the bound, files
// are generated per request, ~0.3 ms for the catalog).
type pacFiles struct {
	mu     sync.Mutex
	byHost map[string]*pac.File
}

const maxPACFiles = 64

// pacFor returns the PAC file for a browser that fetched it from host.
func (rs *ruleset) pacFor(host, defaultPort string) (*pac.File, error) {
	cfg := rs.cfg.PAC
	key := ""
	proxies := cfg.Proxies
	if len(proxies) == 0 {
		p, err := pac.ProxyFromHost(host, defaultPort)
		if err != nil {
			return nil, err
		}
		proxies, key = []string{p}, p
	}
	rs.pac.mu.Lock()
	f, ok := rs.pac.byHost[key]
	rs.pac.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := PAC(rs.cfg, proxies)
	if err != nil {
		return nil, err
	}
	rs.pac.mu.Lock()
	if rs.pac.byHost == nil {
		rs.pac.byHost = make(map[string]*pac.File)
	}
	if len(rs.pac.byHost) < maxPACFiles {
		rs.pac.byHost[key] = f
	}
	rs.pac.mu.Unlock()
	return f, nil
}

// PAC builds the proxy auto-config file for cfg, sending browsers to
// proxies ("host:port", in failover order). The proxy serves it at
// /proxy.pac and /wpad.dat; `signpost pac` prints it.
func PAC(cfg *config.Config, proxies []string) (*pac.File, error) {
	mode := pac.ModeCatalog
	if cfg.PAC.All {
		mode = pac.ModeAll
	}
	return pac.New(pac.Targets(cfg.Patterns, nil), pac.Options{
		Proxies:        proxies,
		Mode:           mode,
		DirectFallback: cfg.PAC.DirectFallback,
		Exclude:        cfg.PAC.Exclude,
		PrivateDirect:  true,
		Comment:        "config " + shortHash(cfg.Hash),
	})
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
