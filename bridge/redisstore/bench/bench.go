package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
)

// Config is one run. Zero fields take the defaults in (*Config).defaults.
type Config struct {
	// Redis is the store's address as the daemon takes it (host:port, a
	// redis:// URL, or a comma list of Cluster seeds or Sentinels).
	Redis, Password, SentinelMaster string
	// Nodes simulated, each with Keys distinct key IDs per product.
	Nodes, Keys int
	// Products the admissions are spread over (each its own Cluster slot).
	Products int
	// Admissions to make (each followed by its release) in the burst mode.
	Admissions int
	// Concurrency is how many admissions are in flight at once.
	Concurrency int
	// Hold, when set, selects the steady state: Hold channels held (the
	// licensed total), Churn admissions and releases per second for Duration.
	Hold, Churn int
	Duration    time.Duration
	// Lapse is the nodes' lapse; they heartbeat every third of it.
	Lapse time.Duration
	// Progress, when set, gets a line as each phase starts and every few
	// seconds of a long one (licbridge bench admission: standard error).
	Progress io.Writer
}

func (c *Config) defaults() error {
	if c.Redis == "" {
		return errors.New("bench: --redis is required")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Nodes, 1)
	def(&c.Keys, 1)
	def(&c.Products, 1)
	def(&c.Admissions, 10000)
	def(&c.Concurrency, 1)
	if c.Lapse <= 0 {
		c.Lapse = 15 * time.Second
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"nodes", c.Nodes}, {"keys", c.Keys}, {"products", c.Products}, {"admissions", c.Admissions}, {"concurrency", c.Concurrency}} {
		if f.v < 1 {
			return fmt.Errorf("bench: --%s %d: must be at least 1", f.name, f.v)
		}
	}
	if c.Hold < 0 || c.Churn < 0 || c.Duration < 0 {
		return errors.New("bench: --hold, --churn and --duration cannot be negative")
	}
	if c.Hold > 0 && (c.Churn == 0 || c.Duration == 0) {
		return errors.New("bench: --hold needs --churn and --duration (the steady state)")
	}
	return nil
}

// Result is what a run measured. Latencies are in microseconds.
type Result struct {
	Mode        string `json:"mode"` // "burst" or "steady"
	Nodes       int    `json:"nodes"`
	Keys        int    `json:"keys"`
	Products    int    `json:"products"`
	Concurrency int    `json:"concurrency"`
	// Capacity is the licensed total per product the nodes' keys add up to.
	Capacity   int     `json:"capacity"`
	Admissions int     `json:"admissions"`
	Releases   int     `json:"releases"`
	Refused    int     `json:"refused"`
	Errors     int     `json:"errors"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"admissions_per_second"`
	AdmitP50   float64 `json:"admit_p50_us"`
	AdmitP99   float64 `json:"admit_p99_us"`
	ReleaseP50 float64 `json:"release_p50_us"`
	ReleaseP99 float64 `json:"release_p99_us"`
	// RedisUsPerCall is Redis's own time per script call (INFO
	// commandstats, every master), heartbeats included.
	RedisUsPerCall float64 `json:"redis_us_per_call"`
	// RedisCPUUsPerPair is the CPU the Redis servers used (INFO cpu, every
	// master) per admission and release, heartbeats included, beyond what
	// they spend idle (RedisIdleCPUMsPerSec, measured for a second first).
	RedisCPUUsPerPair    float64 `json:"redis_cpu_us_per_pair"`
	RedisIdleCPUMsPerSec float64 `json:"redis_idle_cpu_ms_per_s"`
	// The floor, measured in the same way as the run (same pacing or
	// concurrency, heartbeats running), half before it and half after:
	// two trivial script calls per pair.
	// FloorCPUUsPerPair is their Redis CPU beyond idle, FloorP50/P99 one
	// call's round trip, PairOverFloor RedisCPUUsPerPair over
	// FloorCPUUsPerPair: what the scripts themselves add, whatever the
	// machine.
	FloorCPUUsPerPair float64 `json:"floor_cpu_us_per_pair"`
	FloorP50          float64 `json:"floor_p50_us"`
	FloorP99          float64 `json:"floor_p99_us"`
	PairOverFloor     float64 `json:"pair_cpu_over_floor"`
	// Steady state: channels held, the most ever held, and whether any
	// admission was told (or the run counted) more in use than the total.
	Hold          int  `json:"hold,omitempty"`
	Churn         int  `json:"churn,omitempty"`
	MaxInUse      int  `json:"max_in_use,omitempty"`
	LimitExceeded bool `json:"limit_exceeded"`
	// Cleaned reports that everything the run wrote was removed.
	Cleaned bool `json:"cleaned"`
}

// run is one simulation's state.
type run struct {
	sayMu    sync.Mutex // progress lines come from several goroutines
	cfg      Config
	store    *redisstore.Store
	id       string
	products []string
	nodes    []string
	capacity int
	// floorKeys has a key in each product's slot for the floor's calls.
	floorKeys [][]string
}

// Run performs cfg against its Redis and removes what it wrote, even when
// ctx ends first.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	// go-redis's own messages (a failed dial, five times over) go nowhere:
	// the error Dial returns says it once.
	s, err := redisstore.Dial(ctx, redisstore.Options{Addr: cfg.Redis, Password: cfg.Password, SentinelMaster: cfg.SentinelMaster,
		PoolSize: cfg.Concurrency + 8, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	defer s.Close()
	r := &run{cfg: cfg, store: s, id: runID()}
	for i := 0; i < cfg.Products; i++ {
		r.products = append(r.products, "bench-"+r.id+"-"+strconv.Itoa(i))
	}
	for i := 0; i < cfg.Nodes; i++ {
		r.nodes = append(r.nodes, "bench-"+r.id+"-n"+strconv.Itoa(i))
	}
	res, err := r.simulate(ctx)
	r.say("removing what the run wrote")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if cerr := r.cleanup(cctx); cerr != nil {
		return res, errors.Join(err, fmt.Errorf("bench: clean up: %w", cerr))
	}
	res.Cleaned = true
	return res, err
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// simulate registers the nodes, keeps them heartbeating, and runs the mode.
func (r *run) simulate(ctx context.Context) (Result, error) {
	cfg := r.cfg
	res := Result{Mode: "burst", Nodes: cfg.Nodes, Keys: cfg.Keys, Products: cfg.Products, Concurrency: cfg.Concurrency}
	perKey := max(1000, cfg.Concurrency) // each admission is released at once: never full
	if cfg.Hold > 0 {
		res.Mode, res.Hold, res.Churn = "steady", cfg.Hold, cfg.Churn
		perKey = (cfg.Hold + cfg.Nodes*cfg.Keys - 1) / (cfg.Nodes * cfg.Keys)
	}
	r.capacity = perKey * cfg.Nodes * cfg.Keys
	res.Capacity = r.capacity
	r.say("registering %d nodes x %d keys for %d product(s) on %s", cfg.Nodes, cfg.Keys, cfg.Products, redisstore.Redact(cfg.Redis))
	if err := r.register(ctx, perKey); err != nil {
		return res, err
	}
	hctx, stop := context.WithCancel(ctx)
	beats := make(chan error, 1)
	go func() { beats <- r.heartbeat(hctx) }()
	var err error
	if cfg.Hold > 0 {
		err = r.steady(ctx, &res)
	} else {
		err = r.burst(ctx, &res)
	}
	stop()
	if berr := <-beats; berr != nil && err == nil {
		err = berr
	}
	return res, err
}

// register publishes every node's keys for every product.
func (r *run) register(ctx context.Context, perKey int) error {
	now := time.Now()
	for _, p := range r.products {
		for n, node := range r.nodes {
			keys := make([]bridge.KeyGrant, r.cfg.Keys)
			for k := range keys {
				keys[k] = bridge.KeyGrant{KeyID: fmt.Sprintf("BENCH-%s-%d-%d", r.id, n, k), Product: p, Channels: perKey}
			}
			op := bridge.KeysOp{Node: node, Product: p, Keys: keys, Now: now, Expires: now.Add(r.cfg.Lapse)}
			if _, err := r.store.PublishKeys(ctx, op); err != nil {
				return fmt.Errorf("bench: register node %s: %w", node, err)
			}
		}
	}
	return nil
}

// heartbeat keeps every node live, each beating once a third of the lapse,
// spread evenly over that time as real nodes would be.
func (r *run) heartbeat(ctx context.Context) error {
	every := r.cfg.Lapse / 3 / time.Duration(len(r.nodes))
	t := time.NewTicker(max(every, time.Microsecond))
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(r.nodes) {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := time.Now()
		lapsed, err := r.store.Heartbeat(ctx, r.nodes[i], r.products, now, now.Add(r.cfg.Lapse))
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("bench: heartbeat of %s: %w", r.nodes[i], err)
		}
		if len(lapsed) > 0 {
			return fmt.Errorf("bench: node %s lapsed for %v: the store was too slow for its heartbeats", r.nodes[i], lapsed)
		}
	}
}
