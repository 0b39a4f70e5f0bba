package provider

// Bounded provider calls: no Configure or CRUD call of the bridged terraform-provider-libvirt can
// hold a Pulumi operation forever.
//
// go-libvirt calls take no context, so a host that stops answering (a hung libvirtd, an SSH link
// gone dark) would block them, and the engine with them, for good. Every call therefore runs in a
// goroutine and the wrapper returns an error naming the operation, the object and the host when the
// deadline passes. The deadline is the resource's Pulumi custom timeout when one is set, else
// VMFLEET_HOST_TIMEOUT seconds (default 120), the same variable the project's dynamic providers
// read (backends/libvirt/host_call.py). An abandoned goroutine stays blocked in its call until the
// provider process ends with the Pulumi run.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/dmacvicar/terraform-provider-libvirt/libvirt/uri"
	"github.com/hashicorp/terraform-plugin-sdk/v2/diag"
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
)

const timeoutVariable = "VMFLEET_HOST_TIMEOUT"

func hostTimeout() time.Duration {
	if seconds, err := strconv.ParseFloat(os.Getenv(timeoutVariable), 64); err == nil && seconds > 0 {
		return time.Duration(seconds * float64(time.Second))
	}
	return 120 * time.Second
}

// host is what the wrappers know of the host behind a configured provider: its URI, and a
// connection of their own for the checks the upstream resources do not make.
type host struct {
	uri  string
	conn *golibvirt.Libvirt
}

var hosts sync.Map // provider meta (the upstream *Client) -> *host

func hostOf(meta interface{}) *host {
	if found, ok := hosts.Load(meta); ok {
		return found.(*host)
	}
	return &host{uri: "the host"}
}

func noAnswer(what, uri string, limit time.Duration) string {
	return fmt.Sprintf("%s on %s: no answer from the host within %s. Check that its libvirt daemon answers "+
		"(`virsh -c %s list`) and the link to it; then run the command again. (Set %s to allow more time.)",
		what, uri, limit, uri, timeoutVariable)
}

// boundProvider wraps Configure and every resource's CRUD functions of p.
func boundProvider(p *schema.Provider) {
	configure := p.ConfigureFunc
	p.ConfigureFunc = nil
	p.ConfigureContextFunc = func(_ context.Context, d *schema.ResourceData) (interface{}, diag.Diagnostics) {
		address := d.Get("uri").(string)
		type outcome struct {
			meta interface{}
			conn *golibvirt.Libvirt
			err  error
		}
		done := make(chan outcome, 1)
		go func() {
			meta, err := configure(d)
			if err != nil {
				done <- outcome{err: err}
				return
			}
			conn, err := dial(address)
			done <- outcome{meta: meta, conn: conn, err: err}
		}()
		limit := hostTimeout()
		select {
		case result := <-done:
			if result.err != nil {
				return nil, diag.Errorf("connect to %s: %s", address, result.err)
			}
			hosts.Store(result.meta, &host{uri: address, conn: result.conn})
			return result.meta, nil
		case <-time.After(limit):
			return nil, diag.Errorf("%s", noAnswer("connect", address, limit))
		}
	}
	for kind, resource := range p.ResourcesMap {
		boundResource(kind, resource)
	}
}

func dial(address string) (*golibvirt.Libvirt, error) {
	parsed, err := uri.Parse(address)
	if err != nil {
		return nil, err
	}
	conn := golibvirt.NewWithDialer(parsed)
	if err := conn.ConnectToURI(golibvirt.ConnectURI(parsed.RemoteName())); err != nil {
		return nil, fmt.Errorf("failed to connect: %w", err)
	}
	return conn, nil
}

func boundResource(kind string, r *schema.Resource) {
	limit := hostTimeout()
	r.Timeouts = &schema.ResourceTimeout{Create: &limit, Read: &limit, Update: &limit, Delete: &limit, Default: &limit}
	wrap := func(operation string, call func(context.Context, *schema.ResourceData, interface{}) diag.Diagnostics) func(context.Context, *schema.ResourceData, interface{}) diag.Diagnostics {
		if call == nil {
			return nil
		}
		return func(ctx context.Context, d *schema.ResourceData, meta interface{}) diag.Diagnostics {
			started := time.Now()
			done := make(chan diag.Diagnostics, 1)
			go func() { done <- call(ctx, d, meta) }()
			select {
			case result := <-done:
				return result
			case <-ctx.Done():
				what := fmt.Sprintf("%s %s %q", operation, kind, objectName(d))
				return diag.Errorf("%s", noAnswer(what, hostOf(meta).uri, time.Since(started).Round(time.Second)))
			}
		}
	}
	r.CreateContext = wrap("create", r.CreateContext)
	r.ReadContext = wrap("read", r.ReadContext)
	r.UpdateContext = wrap("update", r.UpdateContext)
	r.DeleteContext = wrap("delete", r.DeleteContext)
}

func objectName(d *schema.ResourceData) string {
	if name, ok := d.Get("name").(string); ok && name != "" {
		return name
	}
	return d.Id()
}
