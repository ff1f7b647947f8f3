package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/signpost-gateway/signpost/internal/suggest"
)

// Error is one configuration problem at a place in a file. It reads like a
// compiler's: "policy.yaml:12: unknown app "slak"; did you mean "slack"?".
type Error struct {
	File string
	Line int
	Msg  string
}

// Error formats the problem as "file:line: msg".
func (e *Error) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line <= 0:
		return e.File + ": " + e.Msg
	default:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
}

// ErrorList is every problem found in one load, in file and line order.
// Load returns it (never empty) when the configuration is invalid.
type ErrorList []*Error

// Error joins the problems, one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Errors returns the list from err, or a one-element list for a plain error.
func Errors(err error) ErrorList {
	var l ErrorList
	if errors.As(err, &l) {
		return l
	}
	var e *Error
	if errors.As(err, &e) {
		return ErrorList{e}
	}
	return ErrorList{{Msg: err.Error()}}
}

// problems collects errors while a load goes on, so that `signpost check`
// can report all of them at once.
type problems struct {
	list ErrorList
}

func (p *problems) add(file string, line int, format string, args ...any) {
	p.list = append(p.list, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) addErr(e *Error) { p.list = append(p.list, e) }

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	l := p.list
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].File != l[j].File {
			return l[i].File < l[j].File
		}
		return l[i].Line < l[j].Line
	})
	return l
}

// nearest returns the candidate closest to s by edit distance, or "" when
// none is close enough to be a likely typo.
func nearest(s string, candidates []string) string {
	return suggest.Nearest(s, candidates, len(s)/2+1)
}

func didYouMean(s string, candidates []string) string {
	if n := nearest(s, candidates); n != "" {
		return fmt.Sprintf(" (did you mean %q?)", n)
	}
	return ""
}
