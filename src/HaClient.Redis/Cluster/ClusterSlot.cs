using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>Redis Cluster's key-to-slot mapping: <c>CRC16(key) mod 16384</c> (CRC-16/XMODEM), over the hash tag
/// (the part between the first <c>{</c> and the next <c>}</c>, when not empty) instead of the whole key.</summary>
public static class ClusterSlot
{
    /// <summary>The number of hash slots.</summary>
    public const int Count = 16384;

    private static readonly ushort[] Table = BuildTable();

    /// <summary>The slot of <paramref name="key"/>.</summary>
    public static int Of(RedisKey key)
    {
        // RedisKey's own span accessors are internal; the byte[] conversion is exact for string and binary keys alike.
        var bytes = (byte[]?)key ?? [];
        return Of(bytes);
    }

    /// <summary>The slot of the key <paramref name="key"/> (its bytes).</summary>
    public static int Of(ReadOnlySpan<byte> key)
    {
        var open = key.IndexOf((byte)'{');
        if (open >= 0)
        {
            var close = key[(open + 1)..].IndexOf((byte)'}');
            if (close > 0)
            {
                key = key.Slice(open + 1, close);
            }
        }

        return Crc16(key) % Count;
    }

    /// <summary>CRC-16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses.</summary>
    internal static int Crc16(ReadOnlySpan<byte> data)
    {
        var crc = 0;
        foreach (var b in data)
        {
            crc = ((crc << 8) ^ Table[((crc >> 8) ^ b) & 0xFF]) & 0xFFFF;
        }

        return crc;
    }

    private static ushort[] BuildTable()
    {
        var table = new ushort[256];
        for (var i = 0; i < 256; i++)
        {
            var c = i << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1;
            }

            table[i] = (ushort)(c & 0xFFFF);
        }

        return table;
    }
}
