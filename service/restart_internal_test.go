package service

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/signpost-gateway/signpost/config"
)

// TestStartOnlyNamesEverySettingReadAtStart changes each field of the
// sections whose settings are read at start, one at a time, and checks
// that startOnly names exactly the ones a reload cannot apply. A field
// added to these sections fails here until it is listed as one or the
// other.
func TestStartOnlyNamesEverySettingReadAtStart(t *testing.T) {
	base, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: base}
	// Applied by a reload: read from the configuration in force, or read
	// again (the admin tokens file, the retention).
	live := map[string]bool{
		"Proxy.Clients": true, "Proxy.ConnectPorts": true, "Proxy.AllowDestinations": true,
		"Proxy.CloseBlockedTunnels": true, "Proxy.QuietDecisions": true,
		"Store.Retention":           true,
		"Admin.TokensFile":          true,
		"Requests.JustificationMax": true, "Requests.RequestsPerHour": true, "Requests.ContinuesPerHour": true,
	}
	for _, section := range []string{"Proxy", "Store", "Admin", "Requests"} {
		typ := reflect.ValueOf(base).Elem().FieldByName(section).Type()
		for i := range typ.NumField() {
			name := section + "." + typ.Field(i).Name
			next := *base
			f := reflect.ValueOf(&next).Elem().FieldByName(section).Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString(f.String() + "-changed")
			case reflect.Int, reflect.Int64:
				f.SetInt(f.Int() + 1)
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Slice:
				f.Set(reflect.Zero(f.Type()))
				if f.Len() == reflect.ValueOf(base).Elem().FieldByName(section).Field(i).Len() {
					f.Set(reflect.MakeSlice(f.Type(), 1, 1))
				}
			case reflect.Pointer:
				f.Set(reflect.ValueOf(&url.URL{Scheme: "http", Host: "parent.example:3128"}))
			default:
				t.Fatalf("%s: a %s; teach this test to change it", name, f.Kind())
			}
			got := n.startOnly(&next)
			switch {
			case live[name] && len(got) != 0:
				t.Errorf("%s is applied by a reload, but startOnly names %v", name, got)
			case !live[name] && len(got) != 1:
				t.Errorf("%s is read at start only (or is new: list it in live if a reload applies it), but startOnly names %v", name, got)
			}
		}
	}
}
