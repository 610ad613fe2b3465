#!/bin/sh
# Builds the Debian packages from already-compiled binaries: deploy/install.sh stages the
# tree a package ships, debian/<package>.files splits it (every staged file must belong to
# exactly one package), dpkg-shlibdeps and dpkg-gencontrol write each DEBIAN/control from
# debian/control and debian/changelog, and dpkg-deb --build makes the .deb files.
#
# Usage: debian/build-debs.sh OUTDIR          (run from anywhere; needs dpkg-dev)
#   TARGET_DIR=...  where the binaries are (default: target/release; build them with
#                   `cargo build --release --workspace --locked`)
#   DEB_BUILD_OPTIONS=nostrip  keep debug information in the binaries
#   FILES_LIST=...  where dpkg-gencontrol records the built packages (debian/rules passes
#                   debian/files; default a temporary file, so the tree is left untouched)
set -eu

out=${1:?usage: debian/build-debs.sh OUTDIR}
src=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${TARGET_DIR:-$src/target/release}
mkdir -p "$out"
out=$(cd "$out" && pwd)

stage=$(mktemp -d "${TMPDIR:-/tmp}/ferrymail-debs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
FILES_LIST=${FILES_LIST:-$stage/files}

tree=$stage/tree
sh "$src/deploy/install.sh" DESTDIR="$tree" TARGET_DIR="$TARGET_DIR"
# dpkg-statoverride in ferrymail-common's postinst makes it setgid once the group exists.
chmod 0755 "$tree/usr/libexec/ferrymail/sendmail"
# As dh_strip would (the release profile keeps line tables for backtraces in development).
case " ${DEB_BUILD_OPTIONS:-} " in
*" nostrip "*) ;;
*)
    if command -v strip >/dev/null; then
        for f in "$tree"/usr/libexec/ferrymail/* "$tree"/usr/sbin/mailctl; do
            if [ ! -L "$f" ] && head -c 4 "$f" | grep -q ELF; then
                strip --strip-debug --remove-section=.comment --remove-section=.note "$f"
            fi
        done
    fi
    ;;
esac

packages=$(sed -n 's/^Package: *//p' "$src/debian/control")
cd "$tree"
for pkg in $packages; do
    dest=$stage/pkg/$pkg
    mkdir -p "$dest/DEBIAN"
    while read -r pattern; do
        [ -n "$pattern" ] || continue
        matched=
        for f in $pattern; do
            [ -e "$f" ] || [ -L "$f" ] || continue
            [ -d "$f" ] && [ ! -L "$f" ] && continue
            matched=1
            mkdir -p "$dest/$(dirname "$f")"
            mv "$f" "$dest/$f"
        done
        if [ -z "$matched" ]; then
            echo "build-debs: $pkg: nothing staged matches $pattern" >&2
            exit 1
        fi
    done <"$src/debian/$pkg.files"
done
left=$(find . ! -type d | sort)
if [ -n "$left" ]; then
    echo "build-debs: staged files no package claims:" >&2
    echo "$left" >&2
    exit 1
fi

cd "$src"
for pkg in $packages; do
    dest=$stage/pkg/$pkg
    substvars=$stage/$pkg.substvars
    printf 'misc:Depends=\nshlibs:Depends=\n' >"$substvars"
    elfs=$(find "$dest" -type f -perm -u+x ! -path '*/DEBIAN/*' -exec sh -c \
        'head -c 4 "$1" | grep -q "ELF" && echo "$1"' _ {} \;)
    if [ -n "$elfs" ]; then
        # shellcheck disable=SC2086
        dpkg-shlibdeps -T"$substvars" $elfs
    fi
    # Debian policy: every package carries the copyright and the changelog.
    install -d -m 0755 "$dest/usr/share/doc/$pkg"
    install -m 0644 debian/copyright "$dest/usr/share/doc/$pkg/copyright"
    gzip -9nc debian/changelog >"$dest/usr/share/doc/$pkg/changelog.gz"
    chmod 0644 "$dest/usr/share/doc/$pkg/changelog.gz"
    for script in postinst prerm postrm preinst; do
        if [ -f "debian/$pkg.$script" ]; then
            install -m 0755 "debian/$pkg.$script" "$dest/DEBIAN/$script"
        fi
    done
    if [ -d "$dest/etc" ]; then
        (cd "$dest" && find etc -type f | sed 's#^#/#' | sort) >"$dest/DEBIAN/conffiles"
    fi
    (cd "$dest" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
        xargs -0r md5sum) >"$dest/DEBIAN/md5sums"
    dpkg-gencontrol -p"$pkg" -P"$dest" -T"$substvars" -f"$FILES_LIST"
    dpkg-deb --root-owner-group -Zxz --build "$dest" "$out" >/dev/null
done
ls "$out"/*.deb
