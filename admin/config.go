package admin

import (
	"net/http"
	"time"

	"github.com/signpost-gateway/signpost/config"
)

// purposeReload is the CSRF purpose of the configuration page's reload
// button.
const purposeReload = "reload"

// ConfigStatus says which configuration is live, and how the latest
// reload attempt went. It is what GET /api/v1/config answers and the page
// /config shows.
type ConfigStatus struct {
	Hash        string        `json:"hash"`
	LoadedAt    time.Time     `json:"loaded_at"`
	Dir         string        `json:"dir"`
	Files       []config.File `json:"files"`
	Apps        int           `json:"apps"`
	Rules       int           `json:"rules"`
	LastAttempt time.Time     `json:"last_attempt"`
	LastResult  string        `json:"last_result"`
	LastError   string        `json:"last_error,omitempty"`
	LastErrorAt *time.Time    `json:"last_error_at,omitempty"`
	// RestartNeeded names the settings of the configuration in force that
	// differ from those the node started with and that it reads at start
	// only (listeners and their timeouts, the upstream dialer, the store,
	// the CA and the keys): they apply after a restart.
	RestartNeeded []string `json:"restart_needed,omitempty"`
}

// configView is what the configuration page shows.
type configView struct {
	ConfigStatus
	Retention string
	CSRF      string
	CanReload bool
}

// configPage serves GET /config: the configuration in force, how the last
// reload went, what needs a restart, and a button to reload.
func (s *server) configPage(w http.ResponseWriter, r *http.Request) {
	v := configView{ConfigStatus: s.o.ConfigStatus()}
	if s.o.Retention != nil {
		v.Retention = retentionText(s.o.Retention())
	}
	v.CanReload = s.o.Reload != nil
	v.CSRF = s.csrfFor(r, purposeReload)
	s.render(w, r, http.StatusOK, "config", "Configuration", "/config", v)
}

// reloadForm serves POST /config/reload: the button on the configuration
// page. Refused or not, it returns to the page, which shows the outcome.
func (s *server) reloadForm(w http.ResponseWriter, r *http.Request) {
	if err := s.readForm(w, r, purposeReload); err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.log.Info("admin: configuration reload requested", "actor", who(r).actor)
	done := "reloaded"
	if _, err := s.o.Reload(); err != nil {
		done = "reload-refused"
	}
	http.Redirect(w, r, "/config?done="+done, http.StatusSeeOther)
}
