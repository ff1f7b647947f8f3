package classify_test

import (
	"fmt"

	"github.com/signpost-gateway/signpost/classify"
)

func Example() {
	slack := &classify.App{ID: "slack", Name: "Slack"}
	docs := &classify.App{ID: "gdocs", Name: "Google Docs"}
	sheets := &classify.App{ID: "gsheets", Name: "Google Sheets"}
	m, err := classify.Compile([]classify.Pattern{
		{Domain: "slack.com", App: slack, Source: classify.Source{File: "catalog.yaml", Line: 3}},
		{Domain: "docs.google.com", App: docs, Source: classify.Source{File: "catalog.yaml", Line: 9}},
		{Domain: "docs.google.com", Path: "/spreadsheets", App: sheets, Source: classify.Source{File: "catalog.yaml", Line: 10}},
	}, classify.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}

	hm, err := m.Lookup("ACME.Slack.com:443")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(hm.Host, hm.App.ID, hm.Source, hm.Split())

	hm, err = m.Lookup("docs.google.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	app, src := hm.ForPath("/spreadsheets/d/1/edit")
	fmt.Println(hm.Host, app.ID, src, hm.Split())

	_, err = m.Lookup("0x7f.1")
	fmt.Println(err)
	// Output:
	// acme.slack.com slack catalog.yaml:3 false
	// docs.google.com gsheets catalog.yaml:10 true
	// invalid host "0x7f.1": numeric host that is not a canonical IPv4 address
}
