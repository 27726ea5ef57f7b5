using System.Net.Sockets;
using System.Text;

namespace HaClient.Drill.Redis;

/// <summary>A minimal RESP connection for the observer: independent of both clients under test, reconnects at once
/// (Sentinel kills normal clients when it reconfigures a node), every call bounded by the caller.</summary>
internal sealed class RespProbe : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RespProbe(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RespProbe> ConnectAsync(int port, CancellationToken ct)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync("127.0.0.1", port, ct);
            return new RespProbe(tcp);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Blocking connect, for the observer's dedicated threads (independent of the thread pool, which the client
    /// under test may starve). Every receive is bounded by <paramref name="timeout"/>.</summary>
    public static RespProbe Connect(int port, TimeSpan timeout) => Connect("127.0.0.1", port, timeout);

    /// <summary>Blocking connect to <paramref name="host"/> (the soak's observers on a user's cluster).</summary>
    public static RespProbe Connect(string host, int port, TimeSpan timeout)
    {
        var tcp = new TcpClient { NoDelay = true, ReceiveTimeout = (int)timeout.TotalMilliseconds, SendTimeout = (int)timeout.TotalMilliseconds };
        try
        {
            var ar = tcp.BeginConnect(host, port, null, null);
            if (!ar.AsyncWaitHandle.WaitOne(timeout))
            {
                throw new TimeoutException($"connect to {port} timed out");
            }

            tcp.EndConnect(ar);
            return new RespProbe(tcp);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Blocking command: one reply (string, long, object?[] or <see cref="RespError"/>), bounded by the socket timeouts.</summary>
    public object? Command(params string[] args)
    {
        var sb = new StringBuilder();
        sb.Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args)
        {
            sb.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        }

        _stream.Write(Encoding.UTF8.GetBytes(sb.ToString()));
        return ReadReplySync();
    }

    /// <summary>Blocking ROLE: the role name ("master", "slave"), bounded by the socket timeouts.</summary>
    public string? Role()
    {
        _stream.Write("*1\r\n$4\r\nROLE\r\n"u8);
        return ReadReplySync() is object?[] { Length: > 0 } r ? r[0] as string : null;
    }

    private object? ReadReplySync()
    {
        var line = ReadLineSync();
        var rest = line[1..];
        switch (line[0])
        {
            case '+': return rest;
            case '-': return new RespError(rest);
            case ':': return long.Parse(rest, System.Globalization.CultureInfo.InvariantCulture);
            case '$':
                var len = int.Parse(rest, System.Globalization.CultureInfo.InvariantCulture);
                if (len < 0) return null;
                while (_end - _start < len + 2) FillSync();
                var s = Encoding.UTF8.GetString(_buffer, _start, len);
                _start += len + 2;
                return s;
            case '*':
                var n = int.Parse(rest, System.Globalization.CultureInfo.InvariantCulture);
                if (n < 0) return null;
                var items = new object?[n];
                for (var i = 0; i < n; i++) items[i] = ReadReplySync();
                return items;
            default: throw new IOException("bad RESP reply: " + line);
        }
    }

    private string ReadLineSync()
    {
        while (true)
        {
            for (var i = _start; i + 1 < _end; i++)
            {
                if (_buffer[i] == '\r' && _buffer[i + 1] == '\n')
                {
                    var s = Encoding.UTF8.GetString(_buffer, _start, i - _start);
                    _start = i + 2;
                    return s;
                }
            }

            FillSync();
        }
    }

    private void FillSync()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length) throw new IOException("RESP reply too large for the probe");
        var n = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (n == 0) throw new IOException("connection closed");
        _end += n;
    }

    /// <summary>Sends a command and reads one reply: string, long, byte[]-as-string, object?[] or RespError.</summary>
    public async Task<object?> CommandAsync(CancellationToken ct, params string[] args)
    {
        var sb = new StringBuilder();
        sb.Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args)
        {
            sb.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        }

        await _stream.WriteAsync(Encoding.UTF8.GetBytes(sb.ToString()), ct);
        return await ReadReplyAsync(ct);
    }

    private async Task<object?> ReadReplyAsync(CancellationToken ct)
    {
        var line = await ReadLineAsync(ct);
        var rest = line[1..];
        switch (line[0])
        {
            case '+': return rest;
            case '-': return new RespError(rest);
            case ':': return long.Parse(rest, System.Globalization.CultureInfo.InvariantCulture);
            case '$':
                var len = int.Parse(rest, System.Globalization.CultureInfo.InvariantCulture);
                if (len < 0) return null;
                while (_end - _start < len + 2) await FillAsync(ct);
                var s = Encoding.UTF8.GetString(_buffer, _start, len);
                _start += len + 2;
                return s;
            case '*':
                var n = int.Parse(rest, System.Globalization.CultureInfo.InvariantCulture);
                if (n < 0) return null;
                var items = new object?[n];
                for (var i = 0; i < n; i++) items[i] = await ReadReplyAsync(ct);
                return items;
            default: throw new IOException("bad RESP reply: " + line);
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            for (var i = _start; i + 1 < _end; i++)
            {
                if (_buffer[i] == '\r' && _buffer[i + 1] == '\n')
                {
                    var s = Encoding.UTF8.GetString(_buffer, _start, i - _start);
                    _start = i + 2;
                    return s;
                }
            }

            await FillAsync(ct);
        }
    }

    private async Task FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length) throw new IOException("RESP reply too large for the probe");
        var n = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
        if (n == 0) throw new IOException("connection closed");
        _end += n;
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}

internal sealed record RespError(string Message);
