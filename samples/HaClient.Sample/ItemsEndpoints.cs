using HaClient.AspNetCore;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Sample;

/// <summary>An item.</summary>
/// <param name="Id">Its id.</param>
/// <param name="Name">Its name.</param>
/// <param name="UpdatedAt">When it was last written.</param>
public sealed record Item(long Id, string Name, DateTimeOffset UpdatedAt);

/// <summary>The body of a create or update.</summary>
/// <param name="Name">The item's name.</param>
public sealed record ItemInput(string Name);

/// <summary>Items CRUD: writes on the primary (each raises the request's read-your-writes token), reads on a replica that
/// has replayed past the client's token (else the primary).</summary>
internal static class ItemsEndpoints
{
    public static void MapItems(this IEndpointRouteBuilder app)
    {
        var items = app.MapGroup("/items");
        items.MapGet("/", async (PostgresCluster db, IReadYourWrites rw, CancellationToken ct) =>
            Results.Ok(await db.ExecuteReadAsync(rw, async (c, t) =>
            {
                var list = new List<Item>();
                await using var cmd = new NpgsqlCommand("SELECT id, name, updated_at FROM sample_items ORDER BY id DESC LIMIT 100", c);
                try
                {
                    await using var r = await cmd.ExecuteReaderAsync(t);
                    while (await r.ReadAsync(t))
                    {
                        list.Add(new Item(r.GetInt64(0), r.GetString(1), r.GetFieldValue<DateTimeOffset>(2)));
                    }
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    // Not created yet (ItemsSchema runs once a primary is reachable).
                }

                return list;
            }, ct)));

        items.MapGet("/{id:long}", async (long id, PostgresCluster db, IReadYourWrites rw, CancellationToken ct) =>
        {
            var item = await db.ExecuteReadAsync(rw, async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("SELECT id, name, updated_at FROM sample_items WHERE id = $1", c);
                cmd.Parameters.AddWithValue(id);
                await using var r = await cmd.ExecuteReaderAsync(t);
                return await r.ReadAsync(t) ? new Item(r.GetInt64(0), r.GetString(1), r.GetFieldValue<DateTimeOffset>(2)) : null;
            }, ct);
            return item is null ? Results.NotFound() : Results.Ok(item);
        });

        items.MapPost("/", async (ItemInput input, PostgresCluster db, IReadYourWrites rw, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(input.Name))
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["name"] = ["A name is required."] });
            }

            var item = await db.ExecuteWriteAsync(rw, async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("INSERT INTO sample_items(name) VALUES ($1) RETURNING id, name, updated_at", c);
                cmd.Parameters.AddWithValue(input.Name);
                await using var r = await cmd.ExecuteReaderAsync(t);
                await r.ReadAsync(t);
                return new Item(r.GetInt64(0), r.GetString(1), r.GetFieldValue<DateTimeOffset>(2));
            }, ct);
            return Results.Created($"/items/{item.Id}", item);
        });

        items.MapPut("/{id:long}", async (long id, ItemInput input, PostgresCluster db, IReadYourWrites rw, CancellationToken ct) =>
        {
            var item = await db.ExecuteWriteAsync(rw, async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("UPDATE sample_items SET name = $2, updated_at = now() WHERE id = $1 RETURNING id, name, updated_at", c);
                cmd.Parameters.AddWithValue(id);
                cmd.Parameters.AddWithValue(input.Name);
                await using var r = await cmd.ExecuteReaderAsync(t);
                return await r.ReadAsync(t) ? new Item(r.GetInt64(0), r.GetString(1), r.GetFieldValue<DateTimeOffset>(2)) : null;
            }, ct);
            return item is null ? Results.NotFound() : Results.Ok(item);
        });

        items.MapDelete("/{id:long}", async (long id, PostgresCluster db, IReadYourWrites rw, CancellationToken ct) =>
        {
            var deleted = await db.ExecuteWriteAsync(rw, async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("DELETE FROM sample_items WHERE id = $1", c);
                cmd.Parameters.AddWithValue(id);
                return await cmd.ExecuteNonQueryAsync(t);
            }, ct);
            return deleted == 0 ? Results.NotFound() : Results.NoContent();
        });
    }
}
