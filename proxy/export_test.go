package proxy

import "github.com/signpost-gateway/signpost/store"

// SetStoreForTest replaces the store the page actions use.
func (g *Gateway) SetStoreForTest(s store.Store) { g.opts.Store = s }
