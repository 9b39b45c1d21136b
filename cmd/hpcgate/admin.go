package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway/config"
	"hpcgate/gateway/store"

	"hpcgate/gateway"
)

func runCheckConfig(ctx context.Context, m *Main, args []string) error {
	fs := m.flags("check-config")
	site := siteFlag(fs)
	files := fs.Bool("files", false, "also check that the files the config names (keys, CA, known_hosts) exist and are private")
	connect := fs.Bool("connect", false, "also bind to the LDAP directory as the service account, log in to each cluster's login node, run a command, and test the hub API's reverse forward (implies -files)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := loadSite(*site)
	if err != nil {
		fmt.Fprintln(m.Stdout, err)
		return exitError{1}
	}
	if *files || *connect {
		if errs := cfg.CheckFiles(); len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintln(m.Stdout, e)
			}
			return exitError{1}
		}
	}
	if *connect {
		if n := checkConnect(ctx, m.Stdout, cfg); n > 0 {
			fmt.Fprintf(m.Stdout, "%s: %d connection check(s) failed\n", *site, n)
			return exitError{1}
		}
	}
	fmt.Fprintf(m.Stdout, "%s: ok (%d cluster(s))\n", *site, len(cfg.Clusters))
	return nil
}

func runGenerateConfig(_ context.Context, m *Main, args []string) error {
	fs := m.flags("generate-config")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	fmt.Fprint(m.Stdout, config.Example())
	return nil
}

// openStore opens the site's database for the admin commands.
func openStore(ctx context.Context, site string, o store.OpenOptions) (*config.Config, *store.Store, error) {
	cfg, err := loadSite(site)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(cfg.Hub.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	db, err := store.OpenWith(ctx, cfg.Hub.DatabaseURL, o)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

func runToken(ctx context.Context, m *Main, args []string) error {
	fs := m.flags("token")
	site := siteFlag(fs)
	note := fs.String("note", "made with hpcgate token", "what the token is for")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (default: the site's token_lifetime; 0 never expires)")
	scopes := fs.String("scopes", "", "comma-separated `scopes` limiting the token, e.g. read:metrics for Prometheus (default: everything USER may do)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	user := fs.Arg(0)
	if !batch.ValidUser(user) {
		return fmt.Errorf("%q is not a valid user name", user)
	}
	cfg, db, err := openStore(ctx, *site, store.OpenOptions{})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.EnsureUser(ctx, user); err != nil {
		return err
	}
	life := *expires
	if life == 0 {
		life = time.Duration(cfg.TokenLifetime)
	}
	var exp time.Time
	if life > 0 {
		exp = time.Now().Add(life)
	}
	var sc []string
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sc = append(sc, s)
		}
	}
	plain, _, err := db.NewToken(ctx, gateway.TokenSpec{User: user, Kind: gateway.TokenAPI, Note: *note, Expires: exp, Scopes: sc})
	if err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, plain)
	return nil
}

func runUpgradeDB(ctx context.Context, m *Main, args []string) error {
	fs := m.flags("upgrade-db")
	site := siteFlag(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	_, db, err := openStore(ctx, *site, store.OpenOptions{NoMigrate: true})
	if err != nil {
		return err
	}
	defer db.Close()
	backup, applied, err := db.Upgrade(ctx)
	if backup != "" {
		fmt.Fprintf(m.Stdout, "backed up the database to %s\n", backup)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(m.Stdout, "database is up to date (schema version %d)\n", db.Latest())
		return nil
	}
	for _, mg := range applied {
		fmt.Fprintf(m.Stdout, "applied migration %d %s\n", mg.Version, mg.Name)
	}
	return nil
}
