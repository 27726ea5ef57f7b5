namespace HaClient.Redis;

/// <summary>TLS to the Redis nodes and their Sentinels (StackExchange.Redis <c>Ssl</c>, <c>SslHost</c> and certificate
/// callbacks). Every path names a PEM file; none is ever logged with its contents.</summary>
public sealed class RedisTlsOptions
{
    /// <summary>Whether connections to the nodes use TLS. Default <see langword="false"/>.</summary>
    public bool Enabled { get; set; }

    /// <summary>Whether connections to the Sentinels use TLS; <see langword="null"/> (the default) means as
    /// <see cref="Enabled"/>.</summary>
    public bool? Sentinels { get; set; }

    /// <summary>The name the servers' certificates must carry; <see langword="null"/> (the default) means each
    /// endpoint's own host.</summary>
    public string? Host { get; set; }

    /// <summary>A CA certificate (PEM) to trust for the servers' certificates besides the system's roots (a private CA).</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>A client certificate (PEM) to present, for servers that require one (<c>tls-auth-clients yes</c>).</summary>
    public string? ClientCertificatePath { get; set; }

    /// <summary>The client certificate's private key (PEM), when it is not in <see cref="ClientCertificatePath"/>.</summary>
    public string? ClientKeyPath { get; set; }
}
