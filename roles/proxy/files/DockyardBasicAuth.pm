# Dockyard: basic auth for nginx that verifies a password with bcrypt once,
# not at every request (dockyard.registry.proxy, proxy_basic_auth_cache).
#
# nginx's auth_basic runs bcrypt on every request; a docker pull makes a dozen
# requests with the same credentials, so the registry served a few pulls a
# second. This handler, run by nginx's perl module in each worker, checks the
# credentials against the same htpasswd file (bcrypt, through the C library's
# crypt) and remembers a success under an HMAC of the credentials with a key
# drawn when the worker starts: no password is kept, and nothing is written.
#
# A success counts only while the user's line in the file is the one it was
# checked against: the file is looked at (stat) on every request and read
# again when it changed (registry_htpasswd replaces it by rename, a new inode),
# so a removed user or a changed password is refused from the next request on.
# Unknown users cost a bcrypt like known ones, against a hash made at start.
package DockyardBasicAuth;

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(decode_base64);

# At most this many remembered successes per worker; more clears them all.
my $MAX_REMEMBERED = 10000;

my $key = _random_bytes(32);
my %users;          # name -> bcrypt hash, from the file
my $file_state = '';    # path, device, inode, size and mtime of the file read
my %remembered;     # HMAC of "name:password" -> the hash it was verified against
my $dummy_hash = '';

sub _random_bytes {
    my ($count) = @_;
    open(my $fh, '<:raw', '/dev/urandom') or die "DockyardBasicAuth: /dev/urandom: $!";
    my $read = read($fh, my $bytes, $count);
    close($fh);
    die "DockyardBasicAuth: short read from /dev/urandom" unless defined $read && $read == $count;
    return $bytes;
}

sub _bcrypt_salt {
    my ($cost) = @_;
    my @alphabet = ('.', '/', 'A' .. 'Z', 'a' .. 'z', '0' .. '9');
    my $salt = join('', map { $alphabet[ord($_) % 64] } split(//, _random_bytes(22)));
    # The last character carries 2 bits only: one of . O e u keeps it canonical.
    substr($salt, 21, 1) = ('.', 'O', 'e', 'u')[ord(substr($salt, 21, 1)) % 4];
    return sprintf('$2b$%02d$%s', $cost, $salt);
}

sub _equal {
    my ($a, $b) = @_;
    return 0 unless defined $a && defined $b && length($a) == length($b);
    my $diff = 0;
    $diff |= ord(substr($a, $_, 1)) ^ ord(substr($b, $_, 1)) for 0 .. length($a) - 1;
    return $diff == 0;
}

sub _load {
    my ($path) = @_;
    my @st = stat($path);
    my $state = @st ? join(':', $path, @st[0, 1, 7, 9]) : "$path:missing";
    return if $state eq $file_state;
    my %read;
    if (@st && open(my $fh, '<', $path)) {
        while (my $line = <$fh>) {
            $line =~ s/\r?\n\z//;
            my ($name, $hash) = split(/:/, $line, 2);
            $read{$name} = $hash if defined $hash && length($name) && $hash =~ /^\$2[aby]\$\d\d\$/;
        }
        close($fh);
    }
    %users = %read;
    %remembered = ();
    $file_state = $state;
    # The dummy costs what the users' hashes cost.
    my ($some) = values %users;
    my $cost = (defined $some && $some =~ /^\$2[aby]\$(\d\d)\$/) ? $1 : 10;
    $dummy_hash = crypt(unpack('H*', _random_bytes(16)), _bcrypt_salt($cost)) // '' if $dummy_hash !~ /^\$2b\$$cost\$/;
}

# perl_set handler: the user name when the Basic credentials are right, '' otherwise.
sub user {
    my ($r) = @_;
    my $header = $r->header_in('Authorization');
    return '' unless defined $header && $header =~ m{^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*\z};
    my $credentials = decode_base64($1);
    my ($name, $password) = split(/:/, $credentials, 2);
    return '' unless defined $password && length($name) && $password !~ /\0/;
    my $path = $r->variable('dockyard_htpasswd');
    return '' unless defined $path && length($path);
    _load($path);
    my $stored = $users{$name};
    my $mac = hmac_sha256($credentials, $key);
    return $name if defined $stored && defined $remembered{$mac} && $remembered{$mac} eq $stored;
    # Known or not, one bcrypt, so that the answer takes as long either way.
    my $computed = crypt($password, defined $stored ? $stored : $dummy_hash);
    return '' unless defined $stored && _equal($computed, $stored);
    %remembered = () if keys(%remembered) >= $MAX_REMEMBERED;
    $remembered{$mac} = $stored;
    return $name;
}

1;
