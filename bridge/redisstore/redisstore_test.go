package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/redistest"
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
		{"bad URL, password kept out", "redis://user:s3cret@" + srv.Addr + ":x/0", "redisstore: address redis://***@", ""},
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
}
