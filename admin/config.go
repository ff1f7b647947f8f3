package admin

import (
	"encoding/json"
	"net/http"
	"time"
)

// purposeReload is the CSRF purpose of the configuration page's reload
// button.
const purposeReload = "reload"

// configView is what the configuration page shows. Options.ConfigStatus
// returns the node's own type; the page reads it through the JSON the API
// serves, whose fields these are.
type configView struct {
	Hash          string       `json:"hash"`
	LoadedAt      time.Time    `json:"loaded_at"`
	Dir           string       `json:"dir"`
	Files         []configFile `json:"files"`
	Apps          int          `json:"apps"`
	Rules         int          `json:"rules"`
	LastAttempt   time.Time    `json:"last_attempt"`
	LastResult    string       `json:"last_result"`
	LastError     string       `json:"last_error"`
	LastErrorAt   *time.Time   `json:"last_error_at"`
	RestartNeeded []string     `json:"restart_needed"`
	// Set by the page, not read from the status.
	Retention  string `json:"-"`
	CSRF       string `json:"-"`
	CanReload  bool   `json:"-"`
	Unreadable bool   `json:"-"`
}

type configFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// configPage serves GET /config: the configuration in force, how the last
// reload went, what needs a restart, and a button to reload.
func (s *server) configPage(w http.ResponseWriter, r *http.Request) {
	var v configView
	if b, err := json.Marshal(s.o.ConfigStatus()); err != nil || json.Unmarshal(b, &v) != nil {
		s.log.Error("admin: the configuration status is not readable as the API serves it", "error", err)
		v = configView{Unreadable: true}
	}
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
