# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared by images/<name>/build: build a cordon directory image with
# debootstrap from Debian's packages. The caller sets
#
#   IMAGE_NAME       image name, the default destination's last component
#   IMAGE_PACKAGES   comma-separated packages for debootstrap --include
#   IMAGE_VERIFY     shell text run with sh -c inside the finished tree
#                    (chroot, as root, with /proc mounted): it must exit 0
#
# and then calls image_main "$@". See docs/images.md for what an image is
# and how cordon uses it.
#
# Stages: preflight, debootstrap into DEST.tmp, point and security
# updates, trim, verify, pin (.cordon-image), install (permission checks,
# then rename DEST.tmp to DEST). A failed build removes DEST.tmp and keeps
# its log in DEST.tmp.log.

set -euo pipefail

IMAGE_DEFAULT_IMAGES_DIR=/var/lib/cordon/images
EX_UNAVAILABLE=69 # sysexits.h: a prerequisite (debootstrap, the mirror) is missing
N_STAGES=7

opt_dest=""
opt_mirror=""
opt_security=""
opt_suite=bookworm
opt_updates=1
opt_force=0
opt_check=0
opt_cache=""

tmp=""
log=""
log_tail=0 # on failure, show the end of the log (debootstrap, apt, verify)
success=0
stage_start=0

usage() {
	cat <<EOF
Usage: $0 [OPTIONS]

Build the "$IMAGE_NAME" directory image for cordon with debootstrap:
Debian $opt_suite (minbase) plus ${IMAGE_PACKAGES//,/, }.
Run as root; takes a few minutes and about 1 GB of disk while it builds.

Options:
  --dest DIR               where the image goes (default
                           $IMAGE_DEFAULT_IMAGES_DIR/$IMAGE_NAME)
  --mirror URL             Debian mirror (default: the host's apt source for
                           the suite, else http://deb.debian.org/debian)
  --security-mirror URL    security archive, or "none" (default: the host's,
                           else http://deb.debian.org/debian-security)
  --suite SUITE            Debian suite (default bookworm)
  --no-updates             install only what the suite itself holds: no
                           SUITE-updates, no SUITE-security (use this with
                           a snapshot.debian.org mirror to rebuild a pin)
  --cache-dir DIR          keep downloaded .deb files in DIR (faster rebuilds)
  --force                  rebuild even if DIR already holds a complete image
  --check                  only check the prerequisites (root, debootstrap,
                           the mirror); exit 0, or $EX_UNAVAILABLE if one is missing
  -h, --help               this text

Exit status: 0 built (or already built), 1 failed, $EX_UNAVAILABLE a prerequisite
is missing, 64 usage error. Details: docs/images.md.
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$IMAGE_NAME" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$IMAGE_NAME" "$*" >&2
	exit 1
}
unavailable() {
	printf '%s: %s\n' "$IMAGE_NAME" "$*" >&2
	exit "$EX_UNAVAILABLE"
}

elapsed() { # seconds -> m:ss
	printf '%d:%02d' $(($1 / 60)) $(($1 % 60))
}

stage() { # number, text
	stage_start=$SECONDS
	printf '[%d/%d] %s\n' "$1" "$N_STAGES" "$2"
}

stage_done() { # summary
	printf '      %s (%s)\n' "$1" "$(elapsed $((SECONDS - stage_start)))"
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--dest | --mirror | --security-mirror | --suite | --cache-dir)
			[ $# -ge 2 ] || {
				printf '%s: %s needs a value\n' "$IMAGE_NAME" "$1" >&2
				exit 64
			}
			case $1 in
			--dest) opt_dest=$2 ;;
			--mirror) opt_mirror=$2 ;;
			--security-mirror) opt_security=$2 ;;
			--suite) opt_suite=$2 ;;
			--cache-dir) opt_cache=$2 ;;
			esac
			shift 2
			;;
		--dest=* | --mirror=* | --security-mirror=* | --suite=* | --cache-dir=*)
			local k=${1%%=*} v=${1#*=}
			shift
			set -- "$k" "$v" "$@"
			;;
		--no-updates) opt_updates=0 && shift ;;
		--force) opt_force=1 && shift ;;
		--check) opt_check=1 && shift ;;
		-h | --help) usage && exit 0 ;;
		*)
			printf '%s: unknown option %s (see --help)\n' "$IMAGE_NAME" "$1" >&2
			exit 64
			;;
		esac
	done
	[ -n "$opt_dest" ] || opt_dest=$IMAGE_DEFAULT_IMAGES_DIR/$IMAGE_NAME
	# The path ends up in mountinfo, logs and rm -rf: keep it plain.
	case $opt_dest in
	/*) ;;
	*) opt_dest=$PWD/$opt_dest ;;
	esac
	case $opt_dest in
	*[!A-Za-z0-9/._+-]* | */ | */. | */.. | */./* | */../* | *//*)
		printf '%s: --dest must be a plain path (letters, digits, / . _ + -), got %s\n' \
			"$IMAGE_NAME" "$opt_dest" >&2
		exit 64
		;;
	esac
	[ "$opt_dest" != / ] || {
		printf '%s: --dest must not be /\n' "$IMAGE_NAME" >&2
		exit 64
	}
	case $opt_suite in
	'' | *[!a-z0-9-]*)
		printf '%s: --suite must be a Debian suite name such as bookworm\n' "$IMAGE_NAME" >&2
		exit 64
		;;
	esac
	if [ -n "$opt_cache" ]; then
		case $opt_cache in /*) ;; *) opt_cache=$PWD/$opt_cache ;; esac
	fi
}

# URIs of the host's apt sources (one-line and deb822 formats) that serve
# suite $1 as "deb", first one first.
host_mirrors() {
	local suite=$1 f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$suite" '
			$1 != "deb" { next }
			{ i = 2 }
			$i ~ /^\[/ { while (i <= NF && $i !~ /\]$/) i++; i++ }
			$(i + 1) == s { print $i }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v s="$suite" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") && enabled != "no")
					print uris
				types = suites = uris = ""; enabled = "yes"
			}
			BEGIN { enabled = "yes" }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{ key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "") }
			key == "types" { types = $0 }
			key == "uris" { uris = $0 }
			key == "suites" { suites = $0 }
			key == "enabled" { enabled = tolower($0) }
			END { flush() }' "$f" | tr ' ' '\n'
	done
}

pick_mirror() { # suite, fallback
	local m
	m=$(host_mirrors "$1" | grep -E '^https?://' | head -n 1 || true)
	printf '%s\n' "${m:-$2}"
}

# Fetch the suite's InRelease: proves the mirror is reachable and serves it.
mirror_serves() { # mirror, suite
	case $1 in
	http://* | https://*)
		wget -q -T 20 -t 2 -O /dev/null "${1%/}/dists/$2/InRelease"
		;;
	*) return 0 ;; # file:// and the like: debootstrap reports problems itself
	esac
}

preflight() {
	[ "$(id -u)" = 0 ] || unavailable "must run as root (debootstrap creates device nodes and runs the packages' scripts in a chroot)"
	command -v debootstrap >/dev/null 2>&1 ||
		unavailable "debootstrap is not installed: run scripts/setup, or apt-get install debootstrap"
	[ -e "/usr/share/debootstrap/scripts/$opt_suite" ] ||
		unavailable "this debootstrap does not know the suite $opt_suite (upgrade debootstrap)"
	command -v wget >/dev/null 2>&1 || unavailable "wget is not installed (debootstrap needs it)"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -r "$keyring" ] || unavailable "$keyring is missing: apt-get install debian-archive-keyring"
	arch=$(dpkg --print-architecture)
	mirror=${opt_mirror:-$(pick_mirror "$opt_suite" http://deb.debian.org/debian)}
	mirror=${mirror%/}
	mirror_serves "$mirror" "$opt_suite" ||
		unavailable "cannot fetch $mirror/dists/$opt_suite/InRelease: no network or no such mirror (use --mirror URL)"
	security=none
	if [ "$opt_updates" = 1 ]; then
		security=${opt_security:-$(pick_mirror "$opt_suite-security" http://deb.debian.org/debian-security)}
		security=${security%/}
		if [ "$security" != none ]; then
			mirror_serves "$security" "$opt_suite-security" ||
				unavailable "cannot fetch $security/dists/$opt_suite-security/InRelease (use --security-mirror URL or none)"
		fi
	fi
}

# Unmount whatever is mounted below $1, deepest first. Paths are plain
# (parse_args), so mountinfo's octal escapes do not occur.
umount_below() {
	local m
	awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}

# Remove a tree we made, never crossing into a mount (a leftover /proc or
# bind mount from a killed run would otherwise lead rm into the host).
remove_tree() {
	[ -e "$1" ] || return 0
	umount_below "$1"
	rm -rf --one-file-system -- "$1"
}

on_exit() {
	local rc=$?
	if [ "$success" = 1 ]; then
		rm -f -- "$log"
		return 0
	fi
	[ -n "$tmp" ] || return 0
	umount_below "$tmp" || true
	[ "$rc" = 0 ] && rc=1
	printf '\n%s: build failed; nothing was installed at %s\n' "$IMAGE_NAME" "$opt_dest" >&2
	if [ -f "$tmp/debootstrap/debootstrap.log" ]; then
		cat "$tmp/debootstrap/debootstrap.log" >>"$log" 2>/dev/null || true
	fi
	if [ "$log_tail" = 1 ] && [ -s "$log" ]; then
		printf '%s: last lines of the log %s:\n' "$IMAGE_NAME" "$log" >&2
		tail -n 25 "$log" | sed 's/^/    /' >&2
	fi
	remove_tree "$tmp" || true
	exit "$rc"
}

# debootstrap's "I:" lines on stdin -> one status line (updated in place on
# a terminal, otherwise a line per phase and at most one every 20 s).
show_debootstrap() {
	local line phase="" last_phase="" count=0 last_count=0 n_debs=0 last_print=0 tty=0 text
	[ -t 1 ] && tty=1
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$log"
		line=${line%"${line##*[! ]}"} # debootstrap ends some lines with a space
		case $line in
		"I: Retrieving "*" "* | "I: Validating "*" "*)
			phase="downloading packages"
			case $line in "I: Validating "*) n_debs=$((n_debs + 1)) ;; esac
			count=$n_debs
			;;
		"I: Retrieving "* | "I: Validating "* | "I: Checking "* | "I: Valid "* | "I: Resolving "* | "I: Found "*)
			phase="reading the archive index, resolving dependencies" count=0
			;;
		"I: Extracting "*)
			[ "$phase" = "extracting" ] || count=0
			phase="extracting" count=$((count + 1))
			;;
		"I: Installing core packages"*) phase="installing core packages" count=0 ;;
		"I: Unpacking required packages..." | "I: Unpacking the base system...") phase="unpacking" count=0 ;;
		"I: Configuring required packages..." | "I: Configuring the base system...") phase="configuring" count=0 ;;
		"I: Unpacking "*) phase="unpacking" count=$((count + 1)) ;;
		"I: Configuring "*) phase="configuring" count=$((count + 1)) ;;
		"I: Base system installed successfully."*) phase="installed" count=0 ;;
		"W: "* | "E: "*)
			[ "$tty" = 0 ] || printf '\r\033[K'
			printf '      debootstrap %s\n' "$line"
			continue
			;;
		*) continue ;;
		esac
		text=$phase
		[ "$count" = 0 ] || text="$text: $count"
		[ "$phase" != "extracting" ] || text="$text/$n_debs"
		text="      $text ($(elapsed $((SECONDS - stage_start))))"
		if [ "$tty" = 1 ]; then
			printf '\r\033[K%s' "$text"
		elif [ "$phase" != "$last_phase" ]; then
			# Close the previous phase with its final count, then open this one.
			[ "$last_count" = 0 ] || printf '      %s: %d done\n' "$last_phase" "$last_count"
			printf '%s\n' "$text"
			last_print=$SECONDS
		elif [ $((SECONDS - last_print)) -ge 20 ]; then
			printf '%s\n' "$text"
			last_print=$SECONDS
		fi
		last_phase=$phase last_count=$count
	done
	[ "$tty" = 0 ] || printf '\r\033[K'
	printf '      debootstrap: %d packages\n' "$n_debs"
}

run_debootstrap() {
	local args=(--variant=minbase "--include=$IMAGE_PACKAGES" --components=main
		"--arch=$arch" "--keyring=$keyring" --merged-usr)
	if [ -n "$opt_cache" ]; then
		mkdir -p -- "$opt_cache"
		args+=("--cache-dir=$opt_cache")
	fi
	say "      debootstrap ${args[*]} $opt_suite $tmp $mirror" >>"$log"
	debootstrap "${args[@]}" "$opt_suite" "$tmp" "$mirror" 2>&1 | show_debootstrap
}

chroot_run() { # command... (clean environment, C.UTF-8, no prompts)
	chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
		HOME=/root DEBIAN_FRONTEND=noninteractive "$@"
}

# Debian's own slim-image settings: later dpkg runs (the updates below, an
# admin's apt-get in the chroot) skip what trim() removes.
write_apt_config() {
	mkdir -p "$tmp/etc/dpkg/dpkg.cfg.d" "$tmp/etc/apt/apt.conf.d"
	cat >"$tmp/etc/dpkg/dpkg.cfg.d/90cordon-image" <<'EOF'
# cordon image: no documentation, manual pages or translations.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
	cat >"$tmp/etc/apt/apt.conf.d/90cordon-image" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
	{
		printf 'deb %s %s main\n' "$mirror" "$opt_suite"
		if [ "$opt_updates" = 1 ]; then
			printf 'deb %s %s-updates main\n' "$mirror" "$opt_suite"
			[ "$security" = none ] || printf 'deb %s %s-security main\n' "$security" "$opt_suite"
		fi
	} >"$tmp/etc/apt/sources.list"
}

mount_proc() {
	mountpoint -q "$tmp/proc" || mount -t proc -o nosuid,nodev,noexec proc "$tmp/proc"
}

# Install SUITE-updates and SUITE-security with the image's own apt.
run_updates() {
	local out n
	mount_proc || return 1
	# No daemon may start from a maintainer script in the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
	chmod 0755 "$tmp/usr/sbin/policy-rc.d"
	chroot_run apt-get -q update >>"$log" 2>&1 || return 1
	out=$(chroot_run apt-get -q -y -o Dpkg::Options::=--force-confold \
		upgrade --with-new-pkgs 2>&1) || {
		printf '%s\n' "$out" >>"$log"
		return 1
	}
	printf '%s\n' "$out" >>"$log"
	rm -f "$tmp/usr/sbin/policy-rc.d"
	n=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) upgraded, \([0-9]*\) newly installed.*/\1 upgraded, \2 new/p')
	updates_summary=${n:-"see $log"}
}

# Release dates of the archive indexes used, for pinning (snapshot.debian.org).
release_dates() {
	local f
	for f in "$tmp"/var/lib/apt/lists/*_InRelease; do
		[ -f "$f" ] || continue
		printf '%s (%s): %s\n' "$(sed -n 's/^Codename: //p' "$f" | head -n 1)" \
			"$(sed -n 's/^Suite: //p' "$f" | head -n 1)" "$(sed -n 's/^Date: //p' "$f" | head -n 1)"
	done
}

trim() {
	local before after
	before=$(du -sx --block-size=1M "$tmp" | cut -f1)
	umount_below "$tmp"
	# Caches, indexes, logs and runtime state: none of it is bound into a
	# job. debconf's database stays, for apt-get in the chroot.
	find "$tmp/var/cache" "$tmp/var/log" "$tmp/var/lib/apt/lists" -xdev -mindepth 1 \
		\( -type f -o -type l \) ! -path "$tmp/var/cache/debconf/*" -delete
	rm -f "$tmp"/var/lib/dpkg/*-old "$tmp"/var/cache/debconf/*-old
	for d in dev proc sys run tmp var/tmp; do
		find "$tmp/$d" -xdev -mindepth 1 -delete
	done
	# Copied from the host by debootstrap; a job gets generated ones.
	rm -f "$tmp/etc/resolv.conf" "$tmp/etc/hostname" "$tmp/etc/machine-id"
	# Documentation, manual pages, translations (dpkg.cfg.d keeps it so).
	find "$tmp/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
	find "$tmp/usr/share/doc" -mindepth 1 -type d -empty -delete
	find "$tmp/usr/share/locale" -mindepth 1 ! -type d ! -name locale.alias -delete
	find "$tmp/usr/share/locale" -mindepth 1 -type d -empty -delete
	for d in usr/share/man usr/share/info usr/share/lintian usr/share/doc-base; do
		[ -d "$tmp/$d" ] && find "$tmp/$d" -mindepth 1 -delete
	done
	after=$(du -sx --block-size=1M "$tmp" | cut -f1)
	trim_summary="$before MiB -> $after MiB"
}

# Links into the trimmed trees would break a program at run time: list any
# symlink under /usr or /etc whose target (resolved inside the image) is
# gone. Manual page links (update-alternatives keeps them for pagers and
# awk) may dangle: nothing reads them but man.
dangling_links() {
	chroot_run find /usr /etc -xdev -xtype l -printf '%p\t%l\n' |
		awk -F '\t' '$2 !~ /^\/usr\/share\/(man|info)\// { print $1 }' | LC_ALL=C sort
}

verify() {
	mount_proc || return 1
	printf '\n== verify\n' >>"$log"
	chroot_run /bin/sh -c "$IMAGE_VERIFY" >>"$log" 2>&1 || {
		sed '1,/^== verify$/d' "$log" | tail -n 15 | sed 's/^/      | /'
		return 1
	}
	umount_below "$tmp"
	find "$tmp/tmp" "$tmp/root" -mindepth 1 -delete
}

package_list() { # "package<TAB>version<TAB>architecture", sorted
	dpkg-query --admindir="$tmp/var/lib/dpkg" -W \
		-f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n' |
		awk -F '\t' '$1 ~ /^ii/ { print $2 "\t" $3 "\t" $4 }' | LC_ALL=C sort
}

pin() {
	local list sum n
	[ -x "$tmp/sbin/ldconfig" ] || die "the image has no /sbin/ldconfig"
	chroot_run /sbin/ldconfig
	[ -s "$tmp/etc/ld.so.cache" ] || die "ldconfig made no /etc/ld.so.cache"
	list=$(package_list)
	n=$(printf '%s\n' "$list" | wc -l)
	sum=$(printf '%s\n' "$list" | sha256sum | cut -d' ' -f1)
	{
		printf '# cordon directory image, written by images/%s/build; see docs/images.md.\n' "$IMAGE_NAME"
		printf '# The package list follows the blank line; packages_sha256 is its sha256sum:\n'
		printf "#   sed '1,/^\$/d' .cordon-image | sha256sum\n"
		printf 'name: %s\n' "$IMAGE_NAME"
		printf 'suite: %s\n' "$opt_suite"
		printf 'architecture: %s\n' "$arch"
		printf 'mirror: %s\n' "$mirror"
		printf 'security_mirror: %s\n' "$security"
		printf 'updates: %s\n' "$([ "$opt_updates" = 1 ] && echo yes || echo no)"
		printf 'include: %s\n' "$IMAGE_PACKAGES"
		printf 'built: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf 'debootstrap: %s\n' "$(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || echo unknown)"
		printf 'cordon: %s\n' "$(git -C "$IMAGE_SCRIPT_DIR" describe --always --dirty 2>/dev/null || echo unknown)"
		printf '%s\n' "$releases" | sed -n 's/^\(.\+\)$/release: \1/p'
		printf 'packages: %s\n' "$n"
		printf 'packages_sha256: %s\n' "$sum"
		printf '\n%s\n' "$list"
	} >"$tmp/.cordon-image"
	chmod 0644 "$tmp/.cordon-image"
	pin_summary="$n packages, sha256 ${sum:0:16}..."
}

# cordon binds the image's /usr and copies entries of its /etc: both must
# be root's and writable by root only, or whoever could write them could
# change what every job runs.
check_permissions() {
	local bad
	chown root:root "$tmp"
	chmod 0755 "$tmp"
	# Debian makes /usr/local's directories root:staff 2775 for local
	# admins (fontconfig adds /usr/local/share/fonts); an image has none.
	find "$tmp/usr/local" -xdev -type d -exec chown root:root {} + -exec chmod 0755 {} +
	bad=$(find "$tmp/usr" "$tmp/etc" -xdev \( ! -user root -o \( ! -type l -perm /022 \) \) -print | head -n 20)
	[ -z "$bad" ] || die "not root-owned or group/other-writable in the image:
$bad"
	# Bound nosuid anyway; no set-id bits means nothing to get wrong later.
	find "$tmp/usr" -xdev -type f -perm /6000 -exec chmod ug-s {} +
}

install_image() {
	local old="$opt_dest.old"
	sync -f "$tmp" # the data is on disk before the name says "complete"
	if [ -e "$opt_dest" ]; then
		remove_tree "$old"
		mv -T -- "$opt_dest" "$old"
		mv -T -- "$tmp" "$opt_dest"
		tmp=""
		remove_tree "$old"
	else
		mv -T -- "$tmp" "$opt_dest"
		tmp=""
	fi
}

summary() {
	local total usr
	total=$(du -sx --block-size=1M "$opt_dest" | cut -f1)
	usr=$(du -sx --block-size=1M "$opt_dest/usr" | cut -f1)
	say ""
	say "$IMAGE_NAME: built $opt_dest in $(elapsed "$SECONDS")"
	say "    size: $total MiB on disk ($usr MiB in /usr), $pin_summary"
	say "    largest packages (installed size):"
	dpkg-query --admindir="$opt_dest/var/lib/dpkg" -W -f='${Installed-Size}\t${Package}\n' |
		sort -rn | head -n 6 | awk -F '\t' '{ printf "      %6.1f MiB  %s\n", $1 / 1024, $2 }'
	say "    use it: \"image\": \"$IMAGE_NAME\" in a profile, with --images-dir $(dirname "$opt_dest") unless that is $IMAGE_DEFAULT_IMAGES_DIR"
}

image_main() {
	local links_before links_after new_links
	IMAGE_SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
	parse_args "$@"
	SECONDS=0

	stage 1 "checking prerequisites"
	preflight
	say "      debootstrap $(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null), $opt_suite/$arch from $mirror"
	[ "$opt_updates" = 0 ] || say "      updates from $mirror ($opt_suite-updates) and ${security} ($opt_suite-security)"
	if [ "$opt_check" = 1 ]; then
		say "      ok"
		return 0
	fi
	mkdir -p -- "$(dirname "$opt_dest")"
	# One build per images directory at a time (the lock goes with the
	# process); a second one waits, then finds the image built.
	exec 9<"$(dirname "$opt_dest")"
	if ! flock -n 9; then
		say "      waiting for another build in $(dirname "$opt_dest") to finish..."
		flock 9
	fi
	if [ -e "$opt_dest" ] && [ "$opt_force" = 0 ]; then
		if [ -f "$opt_dest/.cordon-image" ]; then
			say "$IMAGE_NAME: $opt_dest is already built ($(sed -n 's/^built: //p' "$opt_dest/.cordon-image")); --force rebuilds it"
			return 0
		fi
		die "$opt_dest exists but is not a complete image (no .cordon-image): remove it or use --force"
	fi
	tmp=$opt_dest.tmp
	log=$opt_dest.tmp.log
	trap on_exit EXIT
	trap 'exit 130' INT TERM HUP
	remove_tree "$tmp"
	: >"$log"

	log_tail=1
	stage 2 "debootstrap $opt_suite minbase + ${IMAGE_PACKAGES//,/ } (this takes a few minutes)..."
	run_debootstrap || die "debootstrap failed"
	stage_done "done"

	stage 3 "point and security updates"
	write_apt_config
	if [ "$opt_updates" = 1 ]; then
		run_updates || die "apt-get upgrade in the image failed"
		stage_done "$updates_summary"
	else
		stage_done "skipped (--no-updates)"
	fi
	releases=$(release_dates)

	log_tail=0
	stage 4 "trimming caches, documentation, manual pages, translations"
	links_before=$(dangling_links)
	trim
	links_after=$(dangling_links)
	new_links=$(comm -13 <(printf '%s\n' "$links_before") <(printf '%s\n' "$links_after") | sed '/^$/d')
	[ -z "$new_links" ] || die "trimming broke these symlinks:
$new_links"
	stage_done "$trim_summary"

	stage 5 "checking the image works (chroot)"
	verify || die "the image does not work (the check's output is in $log)"
	stage_done "ok"

	stage 6 "pinning: ld.so.cache, package versions into .cordon-image"
	pin
	stage_done "$pin_summary"

	stage 7 "installing as $opt_dest"
	check_permissions
	install_image
	success=1
	stage_done "ok"
	summary
}
