package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"hpcgate/gateway"
)

// TestRevocationToldAtCommit: replica a revokes a session and dies the
// instant its transaction commits, before it can run another statement;
// replica b still forgets the session, because the notification was part
// of the commit.
func TestRevocationToldAtCommit(t *testing.T) {
	newURL := freshPostgres(t)
	e := &env{url: newURL(t), clock: newClock()}
	ctx := context.Background()
	a := e.store(t)
	b := e.open(t, OpenOptions{})
	closeOnCleanup(t, b)
	rb, err := b.StartReplica(ctx, ReplicaOptions{ID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rb.Close)

	// a's connections die with the first commit after dies is armed.
	conn, err := pq.NewConnector(e.url)
	if err != nil {
		t.Fatal(err)
	}
	d := &dying{Connector: conn}
	db := sqlx.NewDb(sql.OpenDB(d), "postgres")
	t.Cleanup(func() { db.Close() })
	a.db, a.rdb = db, db

	sid := must(a.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	must(b.GetSession(ctx, sid))(t) // cached on b now
	d.armed.Store(true)
	revoked := time.Now()
	if err := a.RevokeSession(ctx, sid); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if !d.dead.Load() {
		t.Fatal("the revocation did not commit through the dying connection")
	}
	within(t, time.Second, "b to refuse the session a revoked as it died", func() bool {
		_, err := b.GetSession(ctx, sid)
		return errors.Is(err, gateway.ErrNotFound)
	})
	t.Logf("revocation committed → refused on b: %s", time.Since(revoked).Round(time.Millisecond))
}

// TestRevocationRolledBackTellsNothing: a revocation whose commit fails
// (a deferred trigger refuses it) tells the other replicas nothing, and
// one that commits does.
func TestRevocationRolledBackTellsNothing(t *testing.T) {
	newURL := freshPostgres(t)
	e := &env{url: newURL(t), clock: newClock()}
	ctx := context.Background()
	a := e.store(t)
	l := pq.NewListener(e.url, 100*time.Millisecond, time.Second, nil)
	t.Cleanup(func() { l.Close() })
	if err := l.Listen(channelIdentity); err != nil {
		t.Fatal(err)
	}
	sid := must(a.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	for _, stmt := range []string{
		`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$`,
		`CREATE CONSTRAINT TRIGGER refuse AFTER UPDATE ON sessions DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW EXECUTE FUNCTION refuse()`,
	} {
		if _, err := a.db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.RevokeSession(ctx, sid); err == nil {
		t.Fatal("a revocation refused at commit reported success")
	}
	select {
	case n := <-l.NotificationChannel():
		t.Fatalf("a rolled-back revocation was told to the replicas: %+v", n)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := a.GetSession(ctx, sid); err != nil {
		t.Fatalf("the rolled-back revocation ended the session: %v", err)
	}

	if _, err := a.db.ExecContext(ctx, "DROP TRIGGER refuse ON sessions"); err != nil {
		t.Fatal(err)
	}
	must0(t, a.RevokeSession(ctx, sid))
	select {
	case n := <-l.NotificationChannel():
		if n == nil || n.Extra != a.tag+" c" {
			t.Errorf("heard %+v, want %q", n, a.tag+" c")
		}
	case <-time.After(time.Second):
		t.Fatal("a committed revocation was not told within a second")
	}
}

// dying is a PostgreSQL connector whose connections all fail once a
// transaction commits after armed is set: a replica killed right after
// its revocation committed.
type dying struct {
	driver.Connector
	armed, dead atomic.Bool
}

var errDied = errors.New("replica died")

func (d *dying) Connect(ctx context.Context) (driver.Conn, error) {
	if d.dead.Load() {
		return nil, errDied
	}
	c, err := d.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &dyingConn{Conn: c, d: d}, nil
}

type dyingConn struct {
	driver.Conn
	d *dying
}

func (c *dyingConn) Prepare(q string) (driver.Stmt, error) {
	if c.d.dead.Load() {
		return nil, errDied
	}
	return c.Conn.Prepare(q)
}

func (c *dyingConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	if c.d.dead.Load() {
		return nil, errDied
	}
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return &dyingTx{Tx: tx, d: c.d}, nil
}

func (c *dyingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if c.d.dead.Load() {
		return nil, errDied
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *dyingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if c.d.dead.Load() {
		return nil, errDied
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

type dyingTx struct {
	driver.Tx
	d *dying
}

func (t *dyingTx) Commit() error {
	err := t.Tx.Commit()
	if t.d.armed.Load() {
		t.d.dead.Store(true)
	}
	return err
}
