#!/bin/sh
# Installs ferrymail the way a distribution package lays it out, into DESTDIR (a staging
# directory) or straight onto the system. It never touches the network, never creates users,
# never enables or starts a service: that is the package manager's or the admin's job
# (systemd-sysusers, systemd-tmpfiles --create, systemctl enable --now ...; see
# docs/operations.md).
#
# Usage: deploy/install.sh [VAR=value ...]      (make-style assignments, or the environment)
#
#   DESTDIR       staging root prefixed to every path             (empty)
#   PREFIX        installation prefix                             /usr
#   BINDIR        user commands (mailq, newaliases)               $PREFIX/bin
#   SBINDIR       admin commands (mailctl, sendmail)              $PREFIX/sbin
#   LIBEXECDIR    the daemons go in $LIBEXECDIR/ferrymail         $PREFIX/libexec
#   SYSCONFDIR    configuration goes in $SYSCONFDIR/ferrymail     /etc (or $PREFIX/etc)
#   UNITDIR       systemd units                                   $PREFIX/lib/systemd/system
#   SYSUSERSDIR   sysusers.d                                      $PREFIX/lib/sysusers.d
#   TMPFILESDIR   tmpfiles.d                                      $PREFIX/lib/tmpfiles.d
#   DOCDIR        documentation                                   $PREFIX/share/doc/ferrymail
#   MANDIR        manual pages                                    $PREFIX/share/man
#   TARGET_DIR    where cargo put the binaries                    <source>/target/release
#   DROP_GROUP    sendmail's setgid group (maildrop/'s group)     ferrymail-drop
#
# The units in systemd/ name /usr/libexec/ferrymail, /etc/ferrymail and
# /usr/share/doc/ferrymail; other directories are substituted while installing.
#
# sendmail is made setgid DROP_GROUP only when that group exists and we run as root;
# otherwise it is installed 0755 and a note says so (Debian's postinst does it with
# dpkg-statoverride once sysusers has created the group).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)

for arg in "$@"; do
    case $arg in
    *=*)
        key=${arg%%=*}
        case $key in
        DESTDIR | PREFIX | BINDIR | SBINDIR | LIBEXECDIR | SYSCONFDIR | UNITDIR | SYSUSERSDIR | \
            TMPFILESDIR | DOCDIR | MANDIR | TARGET_DIR | DROP_GROUP)
            eval "$key=\${arg#*=}"
            ;;
        *)
            echo "install.sh: unknown variable $key" >&2
            exit 64
            ;;
        esac
        ;;
    -h | --help)
        sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install.sh: unexpected argument '$arg' (expected VAR=value)" >&2
        exit 64
        ;;
    esac
done

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
BINDIR=${BINDIR:-$PREFIX/bin}
SBINDIR=${SBINDIR:-$PREFIX/sbin}
LIBEXECDIR=${LIBEXECDIR:-$PREFIX/libexec}
if [ "$PREFIX" = /usr ]; then
    SYSCONFDIR=${SYSCONFDIR:-/etc}
else
    SYSCONFDIR=${SYSCONFDIR:-$PREFIX/etc}
fi
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-$PREFIX/lib/sysusers.d}
TMPFILESDIR=${TMPFILESDIR:-$PREFIX/lib/tmpfiles.d}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/ferrymail}
MANDIR=${MANDIR:-$PREFIX/share/man}
TARGET_DIR=${TARGET_DIR:-$src/target/release}
DROP_GROUP=${DROP_GROUP:-ferrymail-drop}

daemons="mta-smtpd queue-runner local-delivery imapd pop3d managesieved proxyd"
missing=
for b in $daemons mailctl sendmail; do
    [ -x "$TARGET_DIR/$b" ] || missing="$missing $b"
done
if [ -n "$missing" ]; then
    echo "install.sh: not built in $TARGET_DIR:$missing" >&2
    echo "install.sh: run 'cargo build --release --workspace --locked' first" >&2
    exit 66
fi

d() { printf '%s%s' "$DESTDIR" "$1"; }

# The one place where the build-time paths of the units and tmpfiles are replaced.
# The maildrop's group (tmpfiles), its creation (sysusers) and local-delivery's membership
# (its unit) must name the group sendmail is setgid to: maildrop/ admits no one else.
substitute() {
    sed -e "s#/usr/libexec/ferrymail#$LIBEXECDIR/ferrymail#g" \
        -e "s#/etc/ferrymail#$SYSCONFDIR/ferrymail#g" \
        -e "s#/usr/share/doc/ferrymail#$DOCDIR#g" \
        -e "s#ferrymail-drop#$DROP_GROUP#g" \
        "$1"
}

install -d -m 0755 "$(d "$BINDIR")" "$(d "$SBINDIR")" "$(d "$LIBEXECDIR/ferrymail")" \
    "$(d "$SYSCONFDIR/ferrymail")" "$(d "$UNITDIR")" "$(d "$SYSUSERSDIR")" \
    "$(d "$TMPFILESDIR")" "$(d "$DOCDIR")" "$(d "$DOCDIR/examples")" "$(d "$MANDIR/man8")" \
    "$(d "$MANDIR/man5")"

for b in $daemons; do
    install -m 0755 "$TARGET_DIR/$b" "$(d "$LIBEXECDIR/ferrymail/$b")"
done
install -m 0755 "$TARGET_DIR/mailctl" "$(d "$SBINDIR/mailctl")"

# sendmail lives beside the daemons; the classic names (and /usr/lib/sendmail) are symlinks to it (it dispatches on
# argv[0]), so a package can ship the names separately from the binary.
install -m 0755 "$TARGET_DIR/sendmail" "$(d "$LIBEXECDIR/ferrymail/sendmail")"
if [ "$(id -u)" = 0 ] && getent group "$DROP_GROUP" >/dev/null 2>&1; then
    chgrp "$DROP_GROUP" "$(d "$LIBEXECDIR/ferrymail/sendmail")"
    chmod 2755 "$(d "$LIBEXECDIR/ferrymail/sendmail")"
else
    echo "install.sh: note: group $DROP_GROUP missing or not root: sendmail installed 0755, not setgid" >&2
fi
relative() { # relative path from directory $1 to file $2 (both absolute, no .. in them)
    common=$1 up=
    while [ "$common" != / ] && [ "${2#"$common"/}" = "$2" ]; do
        common=$(dirname "$common")
        up="../$up"
    done
    if [ "$common" = / ]; then
        printf '%s%s' "$up" "${2#/}"
    else
        printf '%s%s' "$up" "${2#"$common"/}"
    fi
}
ln -sfn "$(relative "$SBINDIR" "$LIBEXECDIR/ferrymail/sendmail")" "$(d "$SBINDIR/sendmail")"
for name in mailq newaliases; do
    ln -sfn "$(relative "$BINDIR" "$LIBEXECDIR/ferrymail/sendmail")" "$(d "$BINDIR/$name")"
done
# The historical path many scripts still call.
install -d -m 0755 "$(d "$PREFIX/lib")"
ln -sfn "$(relative "$PREFIX/lib" "$LIBEXECDIR/ferrymail/sendmail")" "$(d "$PREFIX/lib/sendmail")"

for unit in "$src"/systemd/*.service "$src"/systemd/*.socket; do
    substitute "$unit" >"$(d "$UNITDIR")/$(basename "$unit")"
    chmod 0644 "$(d "$UNITDIR")/$(basename "$unit")"
done
substitute "$src/systemd/ferrymail.sysusers" >"$(d "$SYSUSERSDIR/ferrymail.conf")"
substitute "$src/systemd/ferrymail.tmpfiles" >"$(d "$TMPFILESDIR/ferrymail.conf")"
chmod 0644 "$(d "$SYSUSERSDIR/ferrymail.conf")" "$(d "$TMPFILESDIR/ferrymail.conf")"

# Never overwrite the admin's configuration.
conf=$(d "$SYSCONFDIR/ferrymail/ferrymail.toml")
if [ -e "$conf" ]; then
    echo "install.sh: kept existing $conf (the new example is in $DOCDIR/examples)" >&2
else
    install -m 0644 "$src/deploy/ferrymail.toml" "$conf"
fi
install -m 0644 "$src/deploy/ferrymail.toml" "$(d "$DOCDIR/examples/ferrymail.toml")"

install -m 0644 "$src/README.md" "$(d "$DOCDIR/README.md")"
install -m 0644 "$src/docs/architecture.md" "$(d "$DOCDIR/architecture.md")"
install -m 0644 "$src/docs/operations.md" "$(d "$DOCDIR/operations.md")"
install -m 0644 "$src/systemd/README.md" "$(d "$DOCDIR/systemd.md")"
for page in "$src"/deploy/man/*.[1-8]; do
    section=${page##*.}
    install -m 0644 "$page" "$(d "$MANDIR/man$section")/$(basename "$page")"
done

echo "install.sh: installed into ${DESTDIR:-/} (prefix $PREFIX)"
