"""The XSLT vmfleet passes a Domain through: nwfilters on its interfaces, a log on its serial console.

pulumi-libvirt has neither a filterref nor a console log argument, but it passes the domain XML
through `xml.xslt` before defining it.
- Each interface on a firewalled segment gets `<filterref filter=...>`. The stylesheet matches
  interfaces by network name, so it depends only on which segments the VM is on (a change to it
  replaces the domain); rule changes go to the filter itself.
- The serial console gets `<log file=... append='on'/>`: libvirt (virtlogd) then keeps everything
  the guest writes on it in that file on the host, across restarts, whether or not anyone is
  attached; `virsh console` still works. libvirt copies the console's log to the serial device it
  derives from the console (libvirt 9.0, checked with `virsh dumpxml`).
Network, filter and domain names are built from validated names (letters, digits, '-'), so they
need no escaping inside the stylesheet.
"""

from __future__ import annotations

from collections.abc import Mapping

_HEADER = """<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output omit-xml-declaration="yes" indent="yes"/>
  <xsl:template match="node()|@*">
    <xsl:copy><xsl:apply-templates select="node()|@*"/></xsl:copy>
  </xsl:template>
"""

_INTERFACE = """  <xsl:template match="/domain/devices/interface[source/@network='{network}']">
    <xsl:copy>
      <xsl:apply-templates select="node()|@*"/>
      <filterref filter="{filter}"/>
    </xsl:copy>
  </xsl:template>
"""

_CONSOLE_LOG = """  <xsl:template match="/domain/devices/console[target/@type='serial']">
    <xsl:copy>
      <xsl:apply-templates select="@*"/>
      <log file="{path}" append="on"/>
      <xsl:apply-templates select="node()[not(self::log)]"/>
    </xsl:copy>
  </xsl:template>
"""


def domain_stylesheet(filters_by_network: Mapping[str, str], console_log: str) -> str:
    """XSLT adding `<filterref filter=...>` to every interface on a filtered network and a log file
    (an absolute path on the VM's host) to the serial console."""
    templates = "".join(
        _INTERFACE.format(network=network, filter=name) for network, name in sorted(filters_by_network.items())
    )
    return _HEADER + templates + _CONSOLE_LOG.format(path=console_log) + "</xsl:stylesheet>\n"
