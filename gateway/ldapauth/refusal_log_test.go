package ldapauth

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestRefusalLogsOnlyConfirmedNames: a refused login names the user in the
// log only when the directory confirmed the entry (search mode, wrong
// password); a name with no entry, an empty password, a template bind that
// cannot tell, or an invalid name is logged by its length only, since it
// may be a password typed in the name box.
func TestRefusalLogsOnlyConfirmedNames(t *testing.T) {
	d := loadDirectory(t)
	for _, m := range d.modes() {
		var log bytes.Buffer
		cfg := d.config(m.apply)
		cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
		a := newAuth(t, cfg)
		ctx := context.Background()
		a.Authenticate(ctx, "hunter2secret", "x")
		a.Authenticate(ctx, "pw4sure", "")
		a.Authenticate(ctx, "Tr0ub4dor&3", "x")
		a.Authenticate(ctx, "alice", "not-alice-pass")
		got := log.String()
		for _, s := range []string{"hunter2secret", "pw4sure", "Tr0ub4dor", "tr0ub4dor"} {
			if strings.Contains(got, s) {
				t.Errorf("%s: the log holds %q:\n%s", m.name, s, got)
			}
		}
		if !strings.Contains(got, "user_length=13") || !strings.Contains(got, "user_length=7") || !strings.Contains(got, "user_length=11") {
			t.Errorf("%s: refused names are not logged by their length:\n%s", m.name, got)
		}
		if named := strings.Contains(got, "user=alice"); named != (m.name == "search") {
			t.Errorf("%s: alice named in the log: %v, want %v:\n%s", m.name, named, m.name == "search", got)
		}
	}
}
