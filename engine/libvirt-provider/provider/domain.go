package provider

// Fixes to upstream's libvirt_domain for hosts that people also touch by hand, and for failures
// part-way through a create. Each is a wrapper around the upstream function; nothing upstream is
// copied or edited.
//
//   - create replaces a domain of the same name that a run killed mid-create left (it carries the
//     description this stack writes for this VM), and refuses any other domain of that name, with
//     the command that removes it; and when the create itself fails after libvirt defined the domain (a VM too big for the host
//     fails at start, say), it removes that half-made domain, so a retry starts clean instead of
//     failing with "domain ... already exists" forever.
//   - read turns an error that comes from a missing or stopped disk volume or network into a
//     warning: those objects are refreshed on their own, and upstream would otherwise fail the whole
//     refresh (and `make down`, which refreshes first). A domain that is gone reads as gone.
//   - update gives a transient domain (undefined on the host while running) its persistent
//     definition back, and resumes a paused one, before upstream's update (which only starts a
//     shut-off domain and sets autostart).
//   - delete of a domain that no longer exists succeeds, so `make down` after someone removed a VM
//     by hand removes everything else instead of failing "Domain not found" on every retry.
//   - `description` changes in place (upstream replaces the VM for it), so a note an operator edits
//     on the host is not a reason to replace a healthy VM.
//   - a change of a network interface's network replaces the domain: upstream's update ignores it,
//     so the VM kept its old NIC while every preview showed the same change again.
//   - read leaves out the addresses upstream reads from DHCP leases for interfaces that declare
//     none: vmfleet plans each address and reserves it on the network itself, so a guest taking its
//     lease after boot is not a change on the host (refresh and `make drift` would report it as one).

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"
	"github.com/hashicorp/terraform-plugin-sdk/v2/diag"
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
)

const undefineEverything = golibvirt.DomainUndefineManagedSave | golibvirt.DomainUndefineSnapshotsMetadata |
	golibvirt.DomainUndefineNvram | golibvirt.DomainUndefineCheckpointsMetadata

func hardenDomain(r *schema.Resource) {
	r.Schema["description"].ForceNew = false
	nic := r.Schema["network_interface"].Elem.(*schema.Resource)
	nic.Schema["network_name"].ForceNew = true
	nic.Schema["network_id"].ForceNew = true

	create, read, update, remove := r.CreateContext, r.ReadContext, r.UpdateContext, r.DeleteContext
	r.CreateContext = func(ctx context.Context, d *schema.ResourceData, meta interface{}) diag.Diagnostics {
		h, name := hostOf(meta), d.Get("name").(string)
		if h.conn != nil {
			if existing, err := h.conn.DomainLookupByName(name); err == nil {
				if leftByInterruptedRun(h.conn, existing, d.Get("description").(string)) {
					// Its disk is a separate resource: the domain itself holds nothing to keep.
					_ = h.conn.DomainDestroy(existing)
					if err := h.conn.DomainUndefineFlags(existing, undefineEverything); err != nil {
						return diag.Errorf("remove domain %q that an interrupted run left on %s: %s", name, h.uri, err)
					}
				} else {
					return diag.Errorf("domain %q already exists on %s, is not in this stack's state and does not carry "+
						"this stack's description for it: another stack uses the same name_prefix, or it was made by hand. Remove it (`virsh -c %s destroy %s; "+
						"virsh -c %s undefine %s --nvram`, or `make leftovers STACK=<stack> REMOVE=1` for everything of the "+
						"stack) and run the command again", name, h.uri, h.uri, name, h.uri, name)
				}
			}
		}
		result := create(ctx, d, meta)
		if result.HasError() && d.Id() == "" && h.conn != nil {
			if domain, err := h.conn.DomainLookupByName(name); err == nil {
				_ = h.conn.DomainDestroy(domain) // fails harmlessly when it never started
				if err := h.conn.DomainUndefineFlags(domain, undefineEverything); err == nil {
					result = append(result, diag.Diagnostic{
						Severity: diag.Error,
						Summary:  fmt.Sprintf("the half-created domain %q was removed from %s, so the next run starts clean", name, h.uri),
					})
				}
			}
		}
		return result
	}
	r.ReadContext = func(ctx context.Context, d *schema.ResourceData, meta interface{}) diag.Diagnostics {
		held := heldAddresses(d)
		result := read(ctx, d, meta)
		if d.Id() != "" {
			dropLeaseAddresses(d, held)
		}
		if !result.HasError() && d.Id() != "" {
			if h := hostOf(meta); h.conn != nil {
				markDetachedInterfaces(h.conn, d)
			}
		}
		if !result.HasError() || d.Id() == "" {
			return result
		}
		h := hostOf(meta)
		if h.conn != nil {
			if _, err := h.conn.DomainLookupByUUID(parseUUID(d.Id())); golibvirt.IsNotFound(err) {
				d.SetId("")
				return nil
			}
		}
		warnings := diag.Diagnostics{}
		for _, problem := range result {
			warnings = append(warnings, diag.Diagnostic{
				Severity: diag.Warning,
				Summary: fmt.Sprintf("domain %q on %s was read only in part (%s): its disk, cloud-init disk or a network "+
					"is missing or stopped; those are refreshed on their own, and `make up` restores them",
					d.Get("name").(string), h.uri, problem.Summary),
			})
		}
		return warnings
	}
	r.UpdateContext = func(ctx context.Context, d *schema.ResourceData, meta interface{}) diag.Diagnostics {
		h := hostOf(meta)
		if h.conn != nil {
			if err := repersist(h.conn, parseUUID(d.Id())); err != nil {
				return diag.Errorf("update domain %q on %s: %s", d.Get("name").(string), h.uri, err)
			}
			if d.HasChange("description") {
				if err := describe(h.conn, parseUUID(d.Id()), d.Get("description").(string)); err != nil {
					return diag.Errorf("update the description of domain %q on %s: %s", d.Get("name").(string), h.uri, err)
				}
			}
		}
		return update(ctx, d, meta)
	}
	r.DeleteContext = func(ctx context.Context, d *schema.ResourceData, meta interface{}) diag.Diagnostics {
		h := hostOf(meta)
		if h.conn != nil {
			if _, err := h.conn.DomainLookupByUUID(parseUUID(d.Id())); golibvirt.IsNotFound(err) {
				return nil
			}
		}
		return remove(ctx, d, meta)
	}
}

// leftByInterruptedRun tells a domain this very resource created in a run that was killed before
// the engine recorded it: it carries the description the stack writes for this VM, which names the
// stack's prefix and the VM (backends/libvirt/names.py).
func leftByInterruptedRun(conn *golibvirt.Libvirt, domain golibvirt.Domain, description string) bool {
	if description == "" {
		return false
	}
	definition, err := conn.DomainGetXMLDesc(domain, golibvirt.DomainXMLInactive)
	if err != nil {
		return false
	}
	var parsed struct {
		Description string `xml:"description"`
	}
	return xml.Unmarshal([]byte(definition), &parsed) == nil && parsed.Description == description
}

// heldAddresses tells, for each network interface in the state before a read, whether it holds
// any addresses.
func heldAddresses(d *schema.ResourceData) []bool {
	interfaces, _ := d.Get("network_interface").([]interface{})
	held := make([]bool, len(interfaces))
	for i, item := range interfaces {
		if nic, ok := item.(map[string]interface{}); ok {
			addresses, _ := nic["addresses"].([]interface{})
			held[i] = len(addresses) > 0
		}
	}
	return held
}

// dropLeaseAddresses empties the addresses a read found for each interface that held none before.
func dropLeaseAddresses(d *schema.ResourceData, held []bool) {
	interfaces, ok := d.Get("network_interface").([]interface{})
	if !ok {
		return
	}
	changed := false
	for i, item := range interfaces {
		nic, ok := item.(map[string]interface{})
		if !ok || (i < len(held) && held[i]) {
			continue
		}
		if addresses, _ := nic["addresses"].([]interface{}); len(addresses) > 0 {
			nic["addresses"] = []interface{}{}
			changed = true
		}
	}
	if changed {
		_ = d.Set("network_interface", interfaces)
	}
}

// markDetachedInterfaces clears the network_id of each interface of a running domain that has no
// port on its network: the network was stopped or restarted under the VM (libvirt drops a network's
// ports then, and does not attach the VM again when the network starts). The cleared id differs
// from the declared one, so the plan replaces the domain, which starts it attached again.
func markDetachedInterfaces(conn *golibvirt.Libvirt, d *schema.ResourceData) {
	domain, err := conn.DomainLookupByUUID(parseUUID(d.Id()))
	if err != nil {
		return
	}
	if active, err := conn.DomainIsActive(domain); err != nil || active != 1 {
		return
	}
	interfaces, ok := d.Get("network_interface").([]interface{})
	if !ok {
		return
	}
	attached := map[string]map[string]bool{} // network name -> MACs with a port on it
	changed := false
	for _, item := range interfaces {
		nic, ok := item.(map[string]interface{})
		if !ok {
			continue
		}
		network, _ := nic["network_name"].(string)
		mac, _ := nic["mac"].(string)
		if network == "" || mac == "" {
			continue
		}
		if _, known := attached[network]; !known {
			attached[network] = portMACs(conn, network)
		}
		if !attached[network][strings.ToUpper(mac)] {
			nic["network_id"] = ""
			changed = true
		}
	}
	if changed {
		_ = d.Set("network_interface", interfaces)
	}
}

// portMACs is the set of MAC addresses (upper case) with a port on the named network.
func portMACs(conn *golibvirt.Libvirt, network string) map[string]bool {
	macs := map[string]bool{}
	found, err := conn.NetworkLookupByName(network)
	if err != nil {
		return macs
	}
	ports, _, err := conn.NetworkListAllPorts(found, 1, 0)
	if err != nil {
		return macs
	}
	for _, port := range ports {
		definition, err := conn.NetworkPortGetXMLDesc(port, 0)
		if err != nil {
			continue
		}
		var parsed struct {
			MAC struct {
				Address string `xml:"address,attr"`
			} `xml:"mac"`
		}
		if xml.Unmarshal([]byte(definition), &parsed) == nil {
			macs[strings.ToUpper(parsed.MAC.Address)] = true
		}
	}
	return macs
}

// repersist makes a transient domain persistent again and resumes a paused one.
func repersist(conn *golibvirt.Libvirt, id golibvirt.UUID) error {
	domain, err := conn.DomainLookupByUUID(id)
	if err != nil {
		return err
	}
	persistent, err := conn.DomainIsPersistent(domain)
	if err != nil {
		return err
	}
	if persistent == 0 {
		definition, err := conn.DomainGetXMLDesc(domain, golibvirt.DomainXMLInactive|golibvirt.DomainXMLSecure)
		if err != nil {
			return err
		}
		if _, err := conn.DomainDefineXML(definition); err != nil {
			return fmt.Errorf("restoring its persistent definition: %w", err)
		}
	}
	state, _, err := conn.DomainGetState(domain, 0)
	if err != nil {
		return err
	}
	if golibvirt.DomainState(state) == golibvirt.DomainPaused {
		return conn.DomainResume(domain)
	}
	return nil
}

// describe sets a domain's description in its persistent definition and, when it runs, its live one.
func describe(conn *golibvirt.Libvirt, id golibvirt.UUID, text string) error {
	domain, err := conn.DomainLookupByUUID(id)
	if err != nil {
		return err
	}
	impact := golibvirt.DomainAffectConfig
	if active, err := conn.DomainIsActive(domain); err == nil && active == 1 {
		impact |= golibvirt.DomainAffectLive
	}
	return conn.DomainSetMetadata(domain, int32(golibvirt.DomainMetadataDescription), golibvirt.OptString{text}, nil, nil, impact)
}

func parseUUID(id string) golibvirt.UUID {
	var parsed golibvirt.UUID
	if value, err := uuid.Parse(id); err == nil {
		copy(parsed[:], value[:])
	}
	return parsed
}
