package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

func TestDial(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		name    string
		addr    string
		wantErr string
		client  string
	}{
		{"host:port", srv.Addr, "", "*redis.Client"},
		{"redis URL with a database", "redis://" + srv.Addr + "/2", "", "*redis.Client"},
		{"spaces around", "  " + srv.Addr + " ", "", "*redis.Client"},
		{"empty", " ", "redisstore: no address", ""},
		{"bad URL", "redis://" + srv.Addr + "/notadb", "redisstore: address", ""},
		{"nobody there", "127.0.0.1:1", "127.0.0.1:1", ""},
		{"nobody there, password kept out", "redis://:s3cret@127.0.0.1:1", "127.0.0.1:1", ""},
		{"bad URL, password kept out", "redis://user:s3cret@" + srv.Addr + ":x/0", "redisstore: address redis://user:xxxxx@", ""},
		{"second URL of a list, password kept out", "redis://u:s3cret@127.0.0.1:1,redis://u:s3cret@" + srv.Addr + ":x/0", "redisstore: address redis://u:xxxxx@", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := redisstore.Dial(ctx, redisstore.Options{Addr: tc.addr})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, ok := s.Client().(*redis.Client); !ok {
				t.Fatalf("client %T, want %s", s.Client(), tc.client)
			}
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		{"redis://10.0.0.5:6379/2", "redis://10.0.0.5:6379/2"},
		{"redis://u:pw@10.0.0.5:6379", "redis://u:xxxxx@10.0.0.5:6379"},
		{"redis://:pw@h:1", "redis://:xxxxx@h:1"},
		{"redis://pw@h:1", "redis://xxxxx@h:1"},
		{"rediss://u:p/w@h:1/0", "rediss://u:xxxxx@h:1/0"},
		{"redis://u:p@w,x@h:1", "redis://u:xxxxx@h:1"},
		{"redis://u:s1@h1:1,redis://u:s2@h2:2", "redis://u:xxxxx@h1:1,redis://u:xxxxx@h2:2"},
		{"h0:1,redis://h1:1,redis://v:s2@h2:2,h3:3", "h0:1,redis://h1:1,redis://v:xxxxx@h2:2,h3:3"},
		{"redis://a:1@h1:1, redis://b:2@h2:2 ,redis://c:3@h3:3", "redis://a:xxxxx@h1:1, redis://b:xxxxx@h2:2 ,redis://c:xxxxx@h3:3"},
		{"http://asterisk:secret@pbx:8088/ari", "http://asterisk:xxxxx@pbx:8088/ari"},
		{`parse "redis://u:s1@h:x/0": invalid port`, `parse "redis://u:xxxxx@h:x/0": invalid port`},
	}
	for _, tc := range tests {
		if got := redisstore.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A comma list of URLs was parsed as one URL: the parse error quoted it whole,
// and only the first password was hidden.
func TestDialErrorHidesEveryPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := "redis://u:secret1@127.0.0.1:1,redis://u:secret2@127.0.0.1:2"
	_, err := redisstore.Dial(ctx, redisstore.Options{Addr: addr, DialTimeout: time.Second})
	if err == nil {
		t.Fatal("dial of nobody succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "secret1") || strings.Contains(msg, "secret2") || !strings.Contains(msg, "127.0.0.1:2") {
		t.Fatalf("error %q: want the hosts and no password", msg)
	}
}

// TestClusterFromAnyNode: each single node address of a Cluster is enough.
func TestClusterFromAnyNode(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	for _, addr := range c.Addrs() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := redisstore.Dial(ctx, redisstore.Options{Addr: addr})
		if err != nil {
			cancel()
			t.Fatalf("dial %s: %v", addr, err)
		}
		if _, ok := s.Client().(*redis.ClusterClient); !ok {
			t.Errorf("%s gave a %T", addr, s.Client())
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("ping every shard through %s: %v", addr, err)
		}
		s.Close()
		cancel()
	}
	// A comma list of URLs (the password given once per URL) seeds the Cluster.
	var urls []string
	for _, a := range c.Addrs() {
		urls = append(urls, "redis://"+a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := redisstore.Dial(ctx, redisstore.Options{Addr: strings.Join(urls, ",")})
	if err != nil {
		t.Fatalf("dial %s: %v", strings.Join(urls, ","), err)
	}
	defer s.Close()
	if _, ok := s.Client().(*redis.ClusterClient); !ok {
		t.Errorf("a list of URLs gave a %T", s.Client())
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping through a list of URLs: %v", err)
	}
}
