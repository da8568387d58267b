"""The events of directory notification (include/uapi/linux/fcntl.h's DN_ bits).

The filesystem names the event of each change it makes to a directory; who hears
of it, and how, is :mod:`cofferos.coffers.dnotify`'s.
"""

DN_ACCESS = 0x00000001  #: a file read
DN_MODIFY = 0x00000002  #: a file written or truncated
DN_CREATE = 0x00000004  #: a name made
DN_DELETE = 0x00000008  #: a name removed
DN_RENAME = 0x00000010  #: a name moved in or out
DN_ATTRIB = 0x00000020  #: a file's attributes changed
DN_MULTISHOT = 0x80000000  #: keep the request after its first event
